/**
 * What the canary judge does with NaN values (a ratio of two zero rates, a series without a sample in
 * the window): drop them, or count them as 0, the choice for counters where no sample means nothing
 * happened (Kayenta's `nanStrategy`). Infinities are dropped under either strategy: they rank, but they
 * make every difference infinite, and 0 would be the wrong stand-in for them.
 */

import type { NanStrategy } from './canary-judge';

/** The values with every NaN removed or replaced by 0, and every infinity removed. */
export function handleNaNs(values: readonly number[], strategy: NanStrategy): number[] {
  const replaced = strategy === 'replace' ? values.map((value) => (Number.isNaN(value) ? 0 : value)) : values;
  return replaced.filter((value) => Number.isFinite(value));
}
