/**
 * The exact null distribution of the Mann-Whitney U statistic (the Wilcoxon rank-sum statistic less its
 * minimum) for samples of m and n values without ties: with no difference between the samples every
 * one of the C(m+n, m) orderings is equally likely, and U counts the pairs in which the first sample's
 * value is the larger. Used for small samples, where the normal approximation is poor.
 */

import { elementAt } from './element-at';

/** Above this many values in either sample the exact distribution is not used (as R's wilcox.test). */
export const EXACT_SAMPLE_LIMIT = 50;

/**
 * How many orderings give each U = 0 … m·n. By the recursion on the largest value, which belongs to
 * one sample or the other: f(u; m, n) = f(u − n; m − 1, n) + f(u; m, n − 1). Only sums of non-negative
 * counts, so the tails keep their full relative precision (C(98, 49) ≈ 2.5e28 still fits a double's
 * range; the counts lose only the last bits of their mantissas).
 */
function orderingCounts(m: number, n: number): number[] {
  // row[j] holds the counts for sizes (i, j) while i climbs from 0 to m.
  let row: number[][] = Array.from({ length: n + 1 }, () => [1]);
  for (let i = 1; i <= m; i += 1) {
    const next: number[][] = [[1]];
    for (let j = 1; j <= n; j += 1) {
      const fewerFirst = elementAt(row, j); // sizes (i − 1, j): the largest value is the first sample's
      const fewerSecond = elementAt(next, j - 1); // sizes (i, j − 1): the largest value is the second's
      const counts = new Array<number>(i * j + 1).fill(0);
      for (let u = 0; u <= i * j; u += 1) {
        counts[u] = (u >= j ? (fewerFirst[u - j] ?? 0) : 0) + (fewerSecond[u] ?? 0);
      }
      next.push(counts);
    }
    row = next;
  }
  return elementAt(row, n);
}

/** The probability of each U = 0 … m·n when the samples do not differ. */
export function rankSumProbabilities(m: number, n: number): number[] {
  assertSizes(m, n);
  const counts = orderingCounts(m, n);
  const total = counts.reduce((sum, count) => sum + count, 0);
  return counts.map((count) => count / total);
}

/** P(U ≤ u) when the samples do not differ (R's pwilcox). */
export function rankSumCdf(u: number, m: number, n: number): number {
  const probabilities = rankSumProbabilities(m, n);
  const q = Math.floor(u + 1e-7);
  if (q < 0) return 0;
  if (q >= m * n) return 1;
  let sum = 0;
  for (let k = 0; k <= q; k += 1) sum += elementAt(probabilities, k);
  return Math.min(sum, 1);
}

/**
 * The smallest u with P(U ≤ u) ≥ p (R's qwilcox, with its allowance of ten machine epsilons so that a
 * probability that sums to p up to rounding still counts as reaching it).
 */
export function rankSumQuantile(p: number, m: number, n: number): number {
  if (!(p >= 0 && p <= 1)) throw new RangeError(`a probability lies in [0, 1], not ${p}`);
  const probabilities = rankSumProbabilities(m, n);
  const target = p - 10 * Number.EPSILON;
  let sum = 0;
  for (let u = 0; u <= m * n; u += 1) {
    sum += elementAt(probabilities, u);
    if (sum >= target) return u;
  }
  return m * n;
}

function assertSizes(m: number, n: number): void {
  if (!Number.isInteger(m) || !Number.isInteger(n) || m < 1 || n < 1) {
    throw new RangeError(`the exact rank-sum distribution needs two non-empty samples, not ${m} and ${n}`);
  }
}
