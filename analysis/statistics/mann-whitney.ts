/**
 * The Mann-Whitney U test (the Wilcoxon rank-sum test) of whether the canary's values sit higher or
 * lower than the baseline's, two-sided, computed as R's wilcox.test does: exactly for small samples
 * without ties, otherwise by the normal approximation with the tie correction of the variance and a
 * continuity correction.
 */

import { elementAt } from './element-at';
import { normalCdf } from './normal-distribution';
import { EXACT_SAMPLE_LIMIT, rankSumCdf } from './rank-sum-distribution';

export type MannWhitneyMethod = 'exact' | 'normal approximation';

export interface MannWhitneyResult {
  /**
   * U of the canary: the number of (canary, baseline) pairs in which the canary's value is the larger,
   * a tie counting one half. R prints it as W. It runs from 0 to canaryCount × baselineCount.
   */
  u: number;
  /** Two-sided p-value: how likely a U at least this far from its middle is when the samples do not differ. */
  pValue: number;
  method: MannWhitneyMethod;
  /** The standardized U of the normal approximation (after the continuity correction); absent when exact. */
  z?: number;
}

/** Ranks 1 … N of the values, tied values sharing the mean of the ranks they span. */
export function midRanks(values: readonly number[]): number[] {
  const order = values.map((value, index) => ({ value, index })).sort((a, b) => a.value - b.value);
  const ranks = new Array<number>(values.length).fill(0);
  for (let start = 0; start < order.length;) {
    let end = start;
    while (end + 1 < order.length && elementAt(order, end + 1).value === elementAt(order, start).value)
      end += 1;
    const shared = (start + end) / 2 + 1;
    for (let k = start; k <= end; k += 1) ranks[elementAt(order, k).index] = shared;
    start = end + 1;
  }
  return ranks;
}

/** The sizes of the groups of tied values (1 for a value that is not tied). */
export function tieGroupSizes(values: readonly number[]): number[] {
  const sorted = [...values].sort((a, b) => a - b);
  const sizes: number[] = [];
  for (let start = 0; start < sorted.length;) {
    let end = start;
    while (end + 1 < sorted.length && sorted[end + 1] === sorted[start]) end += 1;
    sizes.push(end - start + 1);
    start = end + 1;
  }
  return sizes;
}

/** U of the first sample against the second, from the ranks of both together. */
export function uStatistic(first: readonly number[], second: readonly number[]): number {
  const ranks = midRanks([...first, ...second]);
  let rankSum = 0;
  for (let i = 0; i < first.length; i += 1) rankSum += elementAt(ranks, i);
  return rankSum - (first.length * (first.length + 1)) / 2;
}

/**
 * The standard deviation of U when the samples do not differ, less the share that tied values take
 * away: √(m·n/12 · ((N + 1) − Σ(t³ − t)/(N(N − 1)))) with N = m + n and t the sizes of the tie groups.
 */
export function uStandardDeviation(m: number, n: number, tieSizes: readonly number[]): number {
  const total = m + n;
  const tieTerm = tieSizes.reduce((sum, t) => sum + t * t * t - t, 0);
  return Math.sqrt(((m * n) / 12) * (total + 1 - tieTerm / (total * (total - 1))));
}

/** Whether R's wilcox.test would take the exact distribution for these samples. */
export function usesExactDistribution(m: number, n: number, hasTies: boolean): boolean {
  return m < EXACT_SAMPLE_LIMIT && n < EXACT_SAMPLE_LIMIT && !hasTies;
}

/** The two-sided Mann-Whitney U test of the canary's values against the baseline's. */
export function mannWhitneyTest(canary: readonly number[], baseline: readonly number[]): MannWhitneyResult {
  const m = canary.length;
  const n = baseline.length;
  if (m === 0 || n === 0) throw new RangeError('the Mann-Whitney test needs values on both sides');
  const combined = [...canary, ...baseline];
  assertFinite(combined);
  const u = uStatistic(canary, baseline);
  const tieSizes = tieGroupSizes(combined);
  const hasTies = tieSizes.some((size) => size > 1);

  if (usesExactDistribution(m, n, hasTies)) {
    // The distribution is symmetric about m·n/2: take the tail on U's side and double it.
    const oneTail = u > (m * n) / 2 ? 1 - rankSumCdf(u - 1, m, n) : rankSumCdf(u, m, n);
    return { u, pValue: Math.min(1, 2 * oneTail), method: 'exact' };
  }

  const sigma = uStandardDeviation(m, n, tieSizes);
  // Every value equal: U carries no information at all.
  if (sigma === 0) return { u, pValue: 1, method: 'normal approximation', z: 0 };
  const centred = u - (m * n) / 2;
  const z = (centred - Math.sign(centred) * 0.5) / sigma;
  // Φ(−|z|) rather than 1 − Φ(|z|): the far tail keeps its precision.
  const pValue = Math.min(1, 2 * normalCdf(-Math.abs(z)));
  return { u, pValue, method: 'normal approximation', z };
}

function assertFinite(values: readonly number[]): void {
  if (values.some((value) => !Number.isFinite(value))) {
    throw new RangeError('the Mann-Whitney test takes finite values: handle NaN and infinities first');
  }
}
