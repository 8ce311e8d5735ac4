import { historyOf } from '../harness/temporal';

/**
 * Every text of a workflow's history with its payloads decoded: what anyone who may read the workflow
 * can read. `temporal workflow show -o json` prints payloads (inputs, results, summaries) in base64,
 * so a plain search of its JSON finds neither a leaked secret nor a summary.
 */
export async function readableHistoryText(workflowId: string): Promise<string> {
  return readableText(await historyOf(workflowId));
}

function readableText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return value.map(readableText).join('\n');
  if (typeof value !== 'object' || value === null) return String(value);
  return Object.entries(value)
    .map(([key, field]) =>
      key === 'data' && typeof field === 'string'
        ? Buffer.from(field, 'base64').toString('utf8')
        : readableText(field),
    )
    .join('\n');
}
