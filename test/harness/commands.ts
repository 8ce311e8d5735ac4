import { spawn } from 'node:child_process';

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs a command-line tool as a user would, feeding `input` on standard input, in `cwd` (the test
 * process's own directory unless given). Never throws on exit codes.
 */
export function run(
  command: string,
  args: string[],
  input?: string,
  env: NodeJS.ProcessEnv = {},
  cwd?: string,
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: { ...process.env, ...env }, cwd });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    // A tool that exits without reading its input (curl, say) closes the pipe first: the write then
    // fails with EPIPE, which would otherwise be thrown at whatever test runs. Its exit code tells.
    child.stdin.on('error', () => undefined);
    child.stdin.end(input ?? '');
  });
}

/** Like `run`, but a non-zero exit is an error carrying the tool's own message. */
export async function runOrThrow(command: string, args: string[], input?: string): Promise<string> {
  const result = await run(command, args, input);
  if (result.code !== 0) {
    throw new Error(`${command} ${args.join(' ')} exited ${result.code}: ${result.stderr || result.stdout}`);
  }
  return result.stdout;
}
