import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'histories');

/**
 * Histories recorded from real rollouts (`SIIRTO_RECORD_HISTORIES=1 npm test`) replayed against the
 * current workflow code: a change that would break rollouts already running fails here.
 */
describe('recorded rollout histories', () => {
  const files = readdirSync(FIXTURES).filter((file) => file.endsWith('.json'));

  it('are there to replay', () => {
    expect(files.length).toBeGreaterThanOrEqual(5);
  });

  it.each(files)('%s replays without nondeterminism', async (file) => {
    const { workflowId, ...recorded } = JSON.parse(readFileSync(path.join(FIXTURES, file), 'utf8')) as {
      workflowId?: string;
    };
    // The original ID where the workflow derives names from it (its analyses' child workflow IDs).
    await Worker.runReplayHistory(
      { workflowsPath: require.resolve('../../workflows'), replayName: file },
      historyFromJSON(recorded),
      workflowId ?? file.replace(/\.json$/, ''),
    );
  });
});
