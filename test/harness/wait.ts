export interface WaitOptions {
  timeoutMs?: number;
  intervalMs?: number;
}

/**
 * Checks a condition until it yields a value, failing with the description and the last thing seen
 * when the deadline passes. `undefined` and `false` mean "not yet"; a thrown error is remembered and
 * retried, since components under test are often briefly unavailable.
 */
export async function waitFor<T>(
  description: string,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  { timeoutMs = 30_000, intervalMs = 100 }: WaitOptions = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
      last = value;
    } catch (error) {
      last = error instanceof Error ? error.message : error;
    }
    if (Date.now() >= deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${description}; last seen: ${String(last)}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
