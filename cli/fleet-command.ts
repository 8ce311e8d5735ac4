import type { Client } from '@temporalio/client';
import { connectTemporalClient, TemporalSettingsError } from '../temporal/connection';
import { CliError, temporalSettingsFromFlags, type TemporalFlag } from './cli-context';
import {
  fleetAbortCommand,
  fleetApplyCommand,
  fleetApproveCommand,
  fleetPromoteCommand,
  fleetStatusCommand,
} from './fleet-commands';

export const FLEET_USAGE = `  fleet apply -f FILE           start the fleet release a file describes (one release of an app at a time)
  fleet status APP [--watch]    the release's Rollouts by wave and cluster: phase, step, weight; --watch redraws
                                until it ends (exit 0 Healthy, 1 otherwise)
  fleet approve APP [--wave N]  open the approval gate the release waits at (or wave N's, counted from 1)
  fleet abort APP [--reason T]  abort every revision of the release in flight (and roll back, if it says so)
  fleet promote APP [--cluster ID] [--full]
                                promote the release's Rollouts in flight, or only those of one cluster`;

/**
 * `siirto fleet ...`: needs Temporal only, no kubeconfig, since each cluster is reached through its own
 * workers. Returns the exit code.
 */
export async function fleetCommand(
  args: {
    sub?: string;
    app?: string;
    file?: string;
    wave?: number;
    reason?: string;
    cluster?: string;
    full?: boolean;
    watch?: boolean;
    timeoutSeconds?: number;
    output?: string;
  },
  temporalFlags: Partial<Record<TemporalFlag, string>>,
  write: (text: string) => void,
): Promise<number> {
  const { sub } = args;
  const output = args.output ?? 'table';
  if (output !== 'table' && output !== 'json' && output !== 'yaml') {
    throw new CliError(`--output ${output} is not known; use json, or leave it out for a table`, 2);
  }
  if (sub === 'apply' && !args.file)
    throw new CliError('siirto fleet apply needs -f FILE, the release file', 2);
  if (sub !== 'apply' && !args.app)
    throw new CliError(`siirto fleet ${sub ?? ''} needs the app's name; see siirto --help`, 2);
  // The --cluster flag names a cluster of the release here, not this terminal's own.
  const settings = temporalSettingsFromFlags({ ...temporalFlags, cluster: undefined });
  let client: Client;
  try {
    client = await connectTemporalClient(settings);
  } catch (error) {
    throw new CliError(
      error instanceof Error ? error.message : String(error),
      error instanceof TemporalSettingsError ? 2 : 3,
    );
  }
  const app = args.app ?? '';
  try {
    switch (sub) {
      case 'apply':
        write(await fleetApplyCommand(client, args.file ?? '', settings.fleetTaskQueue));
        return 0;
      case 'status':
        return await fleetStatusCommand(client, app, {
          watch: args.watch,
          timeoutSeconds: args.timeoutSeconds,
          output,
          write: (text) => process.stdout.write(text),
        });
      case 'approve':
        write(await fleetApproveCommand(client, app, args.wave === undefined ? undefined : args.wave - 1));
        return 0;
      case 'abort':
        write(await fleetAbortCommand(client, app, args.reason));
        return 0;
      case 'promote':
        write(await fleetPromoteCommand(client, app, { cluster: args.cluster, full: args.full }));
        return 0;
      default:
        throw new CliError(`unknown fleet command ${sub ?? ''}; see siirto --help`, 2);
    }
  } finally {
    await client.connection.close();
  }
}
