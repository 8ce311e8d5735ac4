import type { LogLevel as TemporalLogLevel, LogMetadata, Logger as TemporalLogger } from '@temporalio/common';
import type { LogFields, Logger } from './log';

/**
 * Routes the Temporal SDK's log (worker, workflow and activity lines, and Core's) into Siirto's JSON
 * log, with the rollout and revision read from the workflow ID (`<namespace>/<name>/r<revision>`).
 */
export class TemporalLogAdapter implements TemporalLogger {
  constructor(private readonly target: Logger) {}

  log(level: TemporalLogLevel, message: string, meta?: LogMetadata): void {
    const fields = fieldsOf(meta);
    switch (level) {
      case 'TRACE':
      case 'DEBUG':
        return this.target.debug(message, fields);
      case 'INFO':
        return this.target.info(message, fields);
      case 'WARN':
        return this.target.warn(message, fields);
      default:
        return this.target.error(message, fields);
    }
  }

  trace(message: string, meta?: LogMetadata): void {
    this.log('TRACE', message, meta);
  }
  debug(message: string, meta?: LogMetadata): void {
    this.log('DEBUG', message, meta);
  }
  info(message: string, meta?: LogMetadata): void {
    this.log('INFO', message, meta);
  }
  warn(message: string, meta?: LogMetadata): void {
    this.log('WARN', message, meta);
  }
  error(message: string, meta?: LogMetadata): void {
    this.log('ERROR', message, meta);
  }
}

const WORKFLOW_ID = /^(?<namespace>[^/]+)\/(?<name>[^/]+)\/r(?<revision>\d+)$/;

function fieldsOf(meta: LogMetadata = {}): LogFields {
  // The SDK's `namespace` is Temporal's; in Siirto's log `namespace` is the Rollout's.
  const { namespace: temporalNamespace, ...rest } = meta;
  const fields: LogFields = { ...rest, temporalNamespace };
  const match = typeof meta.workflowId === 'string' ? WORKFLOW_ID.exec(meta.workflowId) : null;
  if (match?.groups) {
    fields.namespace = match.groups.namespace;
    fields.name = match.groups.name;
    fields.revision = Number(match.groups.revision);
  }
  return fields;
}
