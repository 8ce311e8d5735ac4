import { run, type CommandResult } from '../harness/commands';

export type ShellResult = CommandResult;

/** Runs a block of shell commands as a user pasting it would, stopping at the first that fails. */
export function runShell(script: string, cwd: string, env: NodeJS.ProcessEnv): Promise<ShellResult> {
  return run('bash', ['-e', '-c', script], undefined, env, cwd);
}
