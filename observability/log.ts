/**
 * Siirto's log (bridge and worker): one JSON object per line on stdout, so a log pipeline can filter by rollout,
 * revision or workflow without parsing prose.
 */
export interface LogFields {
  namespace?: string;
  name?: string;
  revision?: number;
  workflowId?: string;
  error?: unknown;
  [field: string]: unknown;
}

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line, such as the Rollout being reconciled. */
  with(fields: LogFields): Logger;
}

export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export function createLogger(
  base: LogFields = {},
  minimumLevel: LogLevel = 'info',
  write: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
): Logger {
  const emit = (level: LogLevel, message: string, fields: LogFields = {}) => {
    if (LOG_LEVELS.indexOf(level) < LOG_LEVELS.indexOf(minimumLevel)) return;
    const line: Record<string, unknown> = {
      time: new Date().toISOString(),
      level,
      msg: message,
      ...base,
      ...fields,
    };
    if (fields.error !== undefined) line.error = errorText(fields.error);
    write(JSON.stringify(line));
  };
  return {
    debug: (message, fields) => emit('debug', message, fields),
    info: (message, fields) => emit('info', message, fields),
    warn: (message, fields) => emit('warn', message, fields),
    error: (message, fields) => emit('error', message, fields),
    with: (fields) => createLogger({ ...base, ...fields }, minimumLevel, write),
  };
}
