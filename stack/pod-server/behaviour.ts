/** How a sample pod answers: the share of requests it fails and the time it adds to each. */
export interface Behaviour {
  /** Share of requests answered 500, from 0 to 1. */
  errorRate: number;
  /** Added to every request before it is answered. */
  latencyMilliseconds: number;
}

export const DEFAULT_BEHAVIOUR: Behaviour = { errorRate: 0, latencyMilliseconds: 0 };

/** Longer than any test waits for one request: a higher value is a typo, not a scenario. */
const MAXIMUM_LATENCY_MILLISECONDS = 60_000;

/**
 * Applies a partial change, such as the body of `PUT /control`, to the current behaviour. Fields left
 * out keep their value; a field of the wrong type or range is an error naming it and what it accepts.
 */
export function changeBehaviour(current: Behaviour, change: unknown): Behaviour {
  if (typeof change !== 'object' || change === null || Array.isArray(change)) {
    throw new Error(
      'the behaviour must be a JSON object such as {"errorRate": 0.3, "latencyMilliseconds": 400}',
    );
  }
  const fields = change as Record<string, unknown>;
  const unknownFields = Object.keys(fields).filter((key) => !(key in DEFAULT_BEHAVIOUR));
  if (unknownFields.length > 0) {
    throw new Error(
      `unknown field ${unknownFields.join(', ')}: the behaviour has errorRate and latencyMilliseconds`,
    );
  }
  const next = { ...current };
  if (fields.errorRate !== undefined) {
    next.errorRate = numberWithin(fields.errorRate, 'errorRate', 0, 1, 'the share of requests answered 500');
  }
  if (fields.latencyMilliseconds !== undefined) {
    next.latencyMilliseconds = numberWithin(
      fields.latencyMilliseconds,
      'latencyMilliseconds',
      0,
      MAXIMUM_LATENCY_MILLISECONDS,
      'the time added to every request',
    );
  }
  return next;
}

function numberWithin(value: unknown, field: string, minimum: number, maximum: number, meaning: string) {
  // Command-line flags and environment variables arrive as text.
  const number = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isFinite(number) || number < minimum || number > maximum) {
    throw new Error(
      `${field} must be a number from ${minimum} to ${maximum} (${meaning}); got ${JSON.stringify(value)}`,
    );
  }
  return number;
}
