/**
 * The Hodges-Lehmann estimate of how far the canary's values are shifted from the baseline's — the
 * median of all pairwise differences canary − baseline — with its confidence interval from the
 * Mann-Whitney statistic, as R's wilcox.test(canary, baseline, conf.int = TRUE) computes it:
 *
 * - Small samples without ties (both under 50 values): the exact interval. With k the lower α/2
 *   quantile of U's exact distribution (at least 1), the interval runs from the k-th smallest pairwise
 *   difference to the k-th largest.
 * - Otherwise: the normal approximation. The bounds are the shifts d at which the standardized U of
 *   (canary − d) against the baseline, tie- and continuity-corrected, crosses ∓z(1 − α/2). R finds them
 *   with a numeric root finder (tolerance 1e-4); the standardized U only changes at pairwise
 *   differences, so here the crossing is located exactly, at the difference where its sign changes,
 *   and the result is the same on every machine.
 *
 * Deliberate difference from R: the estimate is always the median of the pairwise differences (the
 * Hodges-Lehmann estimator itself), where R's approximate branch reports the shift at which the
 * standardized U is zero; the two agree to within one step between neighbouring differences.
 *
 * When each sample holds a single repeated value every pairwise difference is the same number d and
 * the interval is [d, d]: Kayenta adds a little random noise there to get past R's refusal, which the
 * noise-free limit replaces deterministically.
 */

import { elementAt } from './element-at';
import { midRanks, tieGroupSizes, uStandardDeviation, usesExactDistribution } from './mann-whitney';
import { normalQuantile } from './normal-distribution';
import { rankSumQuantile } from './rank-sum-distribution';

export type IntervalMethod = 'exact' | 'normal approximation' | 'constant samples';

export interface HodgesLehmannInterval {
  /** Median of the pairwise differences canary − baseline. */
  estimate: number;
  lower: number;
  upper: number;
  confidenceLevel: number;
  method: IntervalMethod;
}

/** Every difference canary[i] − baseline[j], sorted ascending. */
export function pairwiseDifferences(canary: readonly number[], baseline: readonly number[]): number[] {
  const differences: number[] = [];
  for (const c of canary) for (const b of baseline) differences.push(c - b);
  return differences.sort((a, b) => a - b);
}

/** The median of sorted values (the mean of the middle two for an even count). */
export function medianOfSorted(sorted: readonly number[]): number {
  if (sorted.length === 0) return Number.NaN;
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? elementAt(sorted, middle)
    : (elementAt(sorted, middle - 1) + elementAt(sorted, middle)) / 2;
}

/** The Hodges-Lehmann estimate and interval of canary − baseline at the confidence level (0.98, say). */
export function hodgesLehmannInterval(
  canary: readonly number[],
  baseline: readonly number[],
  confidenceLevel: number,
): HodgesLehmannInterval {
  const m = canary.length;
  const n = baseline.length;
  if (m === 0 || n === 0) throw new RangeError('the Hodges-Lehmann interval needs values on both sides');
  if (!(confidenceLevel > 0 && confidenceLevel < 1)) {
    throw new RangeError(`confidenceLevel lies strictly between 0 and 1 (0.98, say), not ${confidenceLevel}`);
  }
  if ([...canary, ...baseline].some((value) => !Number.isFinite(value))) {
    throw new RangeError('the Hodges-Lehmann interval takes finite values: handle NaN and infinities first');
  }
  const differences = pairwiseDifferences(canary, baseline);
  const estimate = medianOfSorted(differences);
  const first = elementAt(differences, 0);
  const last = elementAt(differences, differences.length - 1);
  if (first === last) {
    return { estimate, lower: first, upper: last, confidenceLevel, method: 'constant samples' };
  }
  const alpha = 1 - confidenceLevel;
  const hasTies = tieGroupSizes([...canary, ...baseline]).some((size) => size > 1);

  if (usesExactDistribution(m, n, hasTies)) {
    const k = Math.max(1, rankSumQuantile(alpha / 2, m, n));
    return {
      estimate,
      lower: elementAt(differences, k - 1),
      upper: elementAt(differences, m * n - k),
      confidenceLevel,
      method: 'exact',
    };
  }

  const zq = normalQuantile(1 - alpha / 2);
  const distinct = differences.filter((value, index) => index === 0 || value !== differences[index - 1]);
  return {
    estimate,
    lower: crossing(canary, baseline, distinct, zq),
    upper: crossing(canary, baseline, distinct, -zq),
    confidenceLevel,
    method: 'normal approximation',
  };
}

/**
 * The standardized U of (canary − shift) against the baseline, continuity-corrected, less the target:
 * R's `wdiff`. It falls as the shift grows and only changes value at pairwise differences.
 */
function standardizedShift(
  canary: readonly number[],
  baseline: readonly number[],
  shift: number,
  target: number,
): number {
  const m = canary.length;
  const n = baseline.length;
  const shifted = canary.map((value) => value - shift);
  const ranks = midRanks([...shifted, ...baseline]);
  let rankSum = 0;
  for (let i = 0; i < m; i += 1) rankSum += elementAt(ranks, i);
  const centred = rankSum - (m * (m + 1)) / 2 - (m * n) / 2;
  const sigma = uStandardDeviation(m, n, tieGroupSizes([...shifted, ...baseline]));
  if (sigma === 0)
    throw new RangeError('cannot compute a confidence interval when all observations are tied');
  return (centred - Math.sign(centred) * 0.5) / sigma - target;
}

/**
 * The shift at which the standardized U crosses `target`, among the sorted distinct differences: the
 * bounds of R's search are the smallest and the largest difference, taken as they are when the
 * function does not change sign between them; otherwise the difference at which it turns from
 * positive to not positive (just after it, between it and the next, the value is constant).
 */
function crossing(
  canary: readonly number[],
  baseline: readonly number[],
  distinct: readonly number[],
  target: number,
): number {
  const first = elementAt(distinct, 0);
  const last = elementAt(distinct, distinct.length - 1);
  if (standardizedShift(canary, baseline, first, target) <= 0) return first;
  if (standardizedShift(canary, baseline, last, target) >= 0) return last;
  // Between distinct[j] and distinct[j + 1] no canary value minus the shift meets a baseline value.
  const between = (j: number): number =>
    standardizedShift(canary, baseline, (elementAt(distinct, j) + elementAt(distinct, j + 1)) / 2, target);
  // The first j whose following open stretch is not positive; the sign changes at distinct[j].
  let low = 0;
  let high = distinct.length - 1; // "none": the change happens at the last difference
  while (low < high) {
    const middle = Math.floor((low + high) / 2);
    if (between(middle) <= 0) high = middle;
    else low = middle + 1;
  }
  return elementAt(distinct, low);
}
