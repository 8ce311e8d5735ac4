/** One entry of an object's metadata.managedFields: who wrote which fields, and when. */
interface ManagedFieldsEntry {
  manager?: string;
  operation?: string;
  time?: string | Date;
  fieldsV1?: Record<string, unknown>;
}

export interface FieldWriter {
  /** The field manager: `kubectl-edit`, `kubectl-scale`, `argocd-controller`, `siirto`. */
  manager: string;
  /** When it last wrote (RFC 3339, to the second, as the apiserver records it). */
  time?: string;
}

/**
 * Who set a field last, as the apiserver records it in managedFields, given the field's path in their
 * notation (`['f:spec', 'f:replicas']`). An update takes a field from its previous manager, so the
 * newest entry holding it is the last writer. Undefined when no entry holds it (managedFields
 * stripped by some tooling).
 */
export function lastWriterOf(managedFields: unknown, path: string[]): FieldWriter | undefined {
  if (!Array.isArray(managedFields)) return undefined;
  const writers = (managedFields as ManagedFieldsEntry[])
    .filter((entry) => holds(entry.fieldsV1, path))
    .map((entry) => ({
      manager: entry.manager ?? 'an unnamed field manager',
      // As read: raw JSON gives the apiserver's own text, the typed client a Date.
      time: entry.time instanceof Date ? entry.time.toISOString() : entry.time,
    }))
    .sort((a, b) => Date.parse(a.time ?? '') - Date.parse(b.time ?? '') || 0);
  return writers.at(-1);
}

function holds(fields: Record<string, unknown> | undefined, path: string[]): boolean {
  let node: unknown = fields;
  for (const key of path) {
    if (!node || typeof node !== 'object' || !(key in node)) return false;
    node = (node as Record<string, unknown>)[key];
  }
  return true;
}
