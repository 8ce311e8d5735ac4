import { createHash } from 'node:crypto';
import type { PodTemplate } from './rollout';

/** JSON with object keys sorted, so equal templates hash equally whatever order their keys came in. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, item]) => item !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * Names a pod template: ten hex characters of its canonical JSON's SHA-256. A revision's ReplicaSet
 * is `<rollout>-<hash>`, so returning to an earlier template finds its ReplicaSet again.
 */
export function podTemplateHash(template: PodTemplate): string {
  return createHash('sha256').update(canonicalJson(template)).digest('hex').slice(0, 10);
}
