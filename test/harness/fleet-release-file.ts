import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { run, type CommandResult } from './commands';
import type { TestScope } from './isolation';
import { fleetTaskQueueOf } from './siirto-processes';
import { stack } from './stack';

/** Siirto's CLI, as a user runs it. */
export const SIIRTO_CLI = path.join(stack.projectDir, 'cli', 'siirto');

/**
 * Writes a FleetRelease file and starts it as a user does, with `siirto fleet apply -f`, on the test
 * file's own fleet queue, which only its workers poll.
 */
export async function applyFleetRelease(
  scope: TestScope,
  name: string,
  spec: Record<string, unknown>,
): Promise<CommandResult> {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'siirto-fleet-')), 'release.yaml');
  const release = { apiVersion: 'siirto.dev/v1alpha1', kind: 'FleetRelease', metadata: { name }, spec };
  writeFileSync(file, JSON.stringify(release));
  return run(SIIRTO_CLI, ['fleet', 'apply', '-f', file], undefined, {
    SIIRTO_FLEET_TASK_QUEUE: fleetTaskQueueOf(scope),
  });
}
