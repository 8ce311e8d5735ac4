/** A JSON object as read from YAML, before anything about its shape is known. */
export type Json = Record<string, unknown>;

export function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The objects of a list, or none when the value is no list. */
export function objectsIn(value: unknown): Json[] {
  return Array.isArray(value) ? value.filter(isObject) : [];
}

/** Records one field that could not be carried over and why, as `<field>: <why>`. */
export type Note = (field: string, why: string) => void;

/**
 * Everything `siirto convert` could not carry over, one line per field: the object, the field as a
 * path in it, and why, so the user knows what to do by hand.
 */
export class ConversionNotes {
  readonly lines: string[] = [];

  /** Notes about one object, named as kubectl names it: `Rollout shop/checkout`. */
  about(kind: string, metadata: unknown): Note {
    const { name, namespace } = isObject(metadata) ? metadata : {};
    const object = `${kind} ${typeof namespace === 'string' ? `${namespace}/` : ''}${String(name ?? '(unnamed)')}`;
    return (field, why) => this.lines.push(`${object}: ${field}: ${why}`);
  }
}

/**
 * Notes every field of `object` in `reasons` that is set, as not carried over for the reason given;
 * `at` is the object's own path, such as `spec.strategy.canary`.
 */
export function noteDropped(object: Json, at: string, reasons: Record<string, string>, note: Note): void {
  for (const [field, why] of Object.entries(reasons)) {
    if (object[field] !== undefined) note(`${at}.${field}`, `not carried over: ${why}`);
  }
}

/** Copies the fields that are set, unchanged; those left out stay out. */
export function pick(object: Json, fields: readonly string[]): Json {
  return Object.fromEntries(fields.filter((field) => object[field] !== undefined).map((f) => [f, object[f]]));
}
