/**
 * Outlier removal as Kayenta's judge does it: Tukey's fences at a factor of the interquartile range
 * (3 by default, for "far out" values), with Kayenta's reduced sensitivity, which widens the fences to
 * the 1st and 99th percentiles when those lie further out. Percentiles are estimated as Kayenta's
 * (Apache Commons Math's default): position p·(n + 1), interpolated linearly between neighbours, the
 * smallest or largest value beyond the ends.
 *
 * A consequence worth knowing: with reduced sensitivity and fewer than 99 values the 1st and 99th
 * percentiles are the minimum and the maximum themselves, so nothing is removed; with a value per pod,
 * outliers are only removed from large fleets, or with `reduceSensitivity: false`.
 */

import { elementAt } from './element-at';

export interface OutlierOptions {
  /** How many interquartile ranges beyond the quartiles a value may lie; Kayenta's default 3. */
  factor: number;
  /** Kayenta's reduced sensitivity: never put a fence inside the 1st or 99th percentile. */
  reduceSensitivity: boolean;
}

export const KAYENTA_OUTLIER_OPTIONS: OutlierOptions = { factor: 3, reduceSensitivity: true };

/** The p-th percentile (0 < p ≤ 100) of the values, estimated as Apache Commons Math does by default. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  if (!(p > 0 && p <= 100)) throw new RangeError(`a percentile lies in (0, 100], not ${p}`);
  const sorted = [...values].sort((a, b) => a - b);
  const n = sorted.length;
  if (n === 1) return elementAt(sorted, 0);
  const position = (p * (n + 1)) / 100;
  if (position < 1) return elementAt(sorted, 0);
  if (position >= n) return elementAt(sorted, n - 1);
  const whole = Math.floor(position);
  const lower = elementAt(sorted, whole - 1);
  const upper = elementAt(sorted, whole);
  return lower + (position - whole) * (upper - lower);
}

/** The range outside which a value counts as an outlier. */
export function outlierFences(
  values: readonly number[],
  options: OutlierOptions = KAYENTA_OUTLIER_OPTIONS,
): { lower: number; upper: number } {
  if (!(options.factor > 0))
    throw new RangeError(`the outlier factor must be above 0, not ${options.factor}`);
  const q1 = percentile(values, 25);
  const q3 = percentile(values, 75);
  const spread = q3 - q1;
  const lower = q1 - options.factor * spread;
  const upper = q3 + options.factor * spread;
  if (!options.reduceSensitivity) return { lower, upper };
  return { lower: Math.min(percentile(values, 1), lower), upper: Math.max(percentile(values, 99), upper) };
}

/** The values inside the fences, in their original order. */
export function removeOutliers(
  values: readonly number[],
  options: OutlierOptions = KAYENTA_OUTLIER_OPTIONS,
): number[] {
  if (values.length === 0) return [];
  const { lower, upper } = outlierFences(values, options);
  return values.filter((value) => value >= lower && value <= upper);
}
