/**
 * Kayenta's canary judge (NetflixACAJudge), as published: each metric's per-pod values of the canary
 * are compared with the baseline's by a Mann-Whitney U test with a Hodges-Lehmann confidence interval,
 * after NaN handling and outlier removal; the classifications are weighted into a score of 0 to 100.
 * Pure, with no Node imports. How one metric is classified: ./canary-metric-classification.ts.
 *
 * The score, as Kayenta's WeightedSumScorer computes it (with each metric its own group):
 * - 0 when a critical metric failed (by more than its critical effect size) or had no data; that metric
 *   is named in `criticalFailure`.
 * - 0 when half the metrics or more had no data (Kayenta's NODATA threshold of 50 %): a canary that
 *   was barely measured is not a success.
 * - Otherwise 100 × the weight of the metrics that did not fail over the weight of the metrics that
 *   count: every metric with data, and a metric without data only when it `mustHaveData` (it counts as
 *   failed). A metric without data is otherwise left out, neither helping nor hurting. Rounded to two
 *   decimals, as Kayenta rounds.
 * The verdict: Successful at or above `pass`, Inconclusive at or above `marginal`, otherwise Failed.
 */

import { classifyMetric } from './canary-metric-classification';

/** Which change of a metric counts against the canary: a rise (latency, errors), a fall, or either. */
export type JudgeDirection = 'increase' | 'decrease' | 'either';

/** What to do with NaN values: drop them, or count them as 0 (a counter that has not moved). */
export type NanStrategy = 'remove' | 'replace';

/** Whether outlying values are removed (Kayenta's IQR fences) before the comparison. */
export type OutlierStrategy = 'remove' | 'keep';

export interface JudgedMetricSettings {
  name: string;
  direction: JudgeDirection;
  /**
   * A critical metric that fails fails the whole judgement: the score is 0. So does a critical metric
   * without data (under `nanStrategy: remove`), as in Kayenta.
   */
  critical: boolean;
  /** Its share of the score against the other metrics' weights (0: reported, never scored). */
  weight: number;
  nanStrategy: NanStrategy;
  /** Confidence level of the Hodges-Lehmann interval; Kayenta's default 0.98. */
  confidenceLevel: number;
  /**
   * Kayenta's tolerance, 0.25: the interval must clear a band of ±tolerance × |Hodges-Lehmann estimate|
   * around 0 for the metric to be High or Low. It is a fraction of the estimated shift, not of the
   * baseline: how large a shift may pass is set by `allowedIncrease` and `allowedDecrease`.
   */
  tolerance: number;
  /**
   * Kayenta's `effectSize.allowedIncrease`: the ratio of means canary/baseline that a clear rise must
   * reach to be High (1.1: the canary may be 10 % higher and still pass). Default 1: any clear rise.
   */
  allowedIncrease?: number;
  /** Kayenta's `effectSize.allowedDecrease`: the ratio a clear fall must be at or below to be Low. Default 1. */
  allowedDecrease?: number;
  /** Kayenta's `effectSize.criticalIncrease`: the ratio at which a failed critical rise fails the canary. Default 1. */
  criticalIncrease?: number;
  /** Kayenta's `effectSize.criticalDecrease`: the ratio at which a failed critical fall fails the canary. Default 1. */
  criticalDecrease?: number;
  /** Kayenta's `mustHaveData`: a metric without data counts as failed instead of being left out. Default false. */
  mustHaveData?: boolean;
  /** Kayenta's `outliers.strategy`. Default `remove` (with fewer than 99 values it removes nothing). */
  outliers?: OutlierStrategy;
  /** Kayenta's `outliers.outlierFactor`: interquartile ranges beyond the quartiles. Default 3. */
  outlierFactor?: number;
}

/** One metric's values over the interval, one per pod (or per series), for baseline and canary. */
export interface JudgedMetricSamples {
  name: string;
  baseline: number[];
  canary: number[];
}

/** Kayenta's classifications: within tolerance, clearly higher, clearly lower, or no data. */
export type MetricClassification = 'Pass' | 'High' | 'Low' | 'NoData';

export interface MetricJudgement {
  name: string;
  classification: MetricClassification;
  /**
   * Whether this classification counts against the canary, given the metric's direction (High for
   * `increase`, Low for `decrease`, either for `either`); also true for NoData when the metric must
   * have data or is critical.
   */
  failed: boolean;
  critical: boolean;
  /** Whether this metric alone set the score to 0 (critical, failed beyond its critical effect size or without data). */
  criticalFailure: boolean;
  weight: number;
  /**
   * Why, as people read it: `canary median 0.130 vs baseline 0.100: +30.0 % (98 % interval +26.0 % to
   * +36.0 %), clear of the tolerance band ±7.5 %, mean ratio 1.30: High, a failure for a metric judged
   * on increase`. Shifts are percentages of the baseline's median (absolute when that is 0).
   */
  reason: string;
  baselineMedian?: number;
  canaryMedian?: number;
  /** Hodges-Lehmann estimate and interval of canary − baseline. */
  estimate?: number;
  lower?: number;
  upper?: number;
  /** Two-sided Mann-Whitney p-value (reported; the classification rests on the interval). */
  pValue?: number;
  /** Ratio of the means canary/baseline; absent when either mean is 0. */
  meanRatio?: number;
  /** Values left after NaN handling and outlier removal. */
  baselineCount: number;
  canaryCount: number;
}

export interface JudgeThresholds {
  /** A score at or above this passes: Successful. */
  pass: number;
  /** A score at or above this (and below pass) holds: Inconclusive. Below it: Failed. */
  marginal: number;
}

export type JudgeVerdict = 'Successful' | 'Inconclusive' | 'Failed';

export interface JudgeResult {
  /** 0 to 100. */
  score: number;
  verdict: JudgeVerdict;
  metrics: MetricJudgement[];
  /** The critical metric that failed, when one did: it set the score to 0. */
  criticalFailure?: string;
  /** Why the score and verdict, in a sentence. */
  reason: string;
}

/** Kayenta's fixed settings and Spinnaker's default score thresholds. */
export const JUDGE_DEFAULTS = {
  confidenceLevel: 0.98,
  tolerance: 0.25,
  thresholds: { pass: 95, marginal: 75 } satisfies JudgeThresholds,
} as const;

/** Kayenta fails a canary when this share of its metrics (or more) had no data. */
export const NO_DATA_LIMIT = 0.5;

/** Judges the canary against the baseline, metric by metric, and scores it. */
export function judgeCanary(
  samples: readonly JudgedMetricSamples[],
  settings: readonly JudgedMetricSettings[],
  thresholds: JudgeThresholds,
): JudgeResult {
  validateThresholds(thresholds);
  settings.forEach(validateSettings);
  const byName = samplesByName(samples, settings);
  const metrics = settings.map((setting) =>
    classifyMetric(byName.get(setting.name) ?? { name: setting.name, baseline: [], canary: [] }, setting),
  );
  const { score, reason, criticalFailure } = scoreOf(metrics);
  const verdict: JudgeVerdict =
    score >= thresholds.pass ? 'Successful' : score >= thresholds.marginal ? 'Inconclusive' : 'Failed';
  const against =
    verdict === 'Successful'
      ? `at or above pass ${thresholds.pass}`
      : verdict === 'Inconclusive'
        ? `below pass ${thresholds.pass}, at or above marginal ${thresholds.marginal}`
        : `below marginal ${thresholds.marginal}`;
  return {
    score,
    verdict,
    metrics,
    ...(criticalFailure === undefined ? {} : { criticalFailure }),
    reason: `${reason}: ${verdict}, ${against}`,
  };
}

function scoreOf(metrics: readonly MetricJudgement[]): {
  score: number;
  reason: string;
  criticalFailure?: string;
} {
  if (metrics.length === 0) return { score: 0, reason: 'score 0: no metrics to judge' };
  const critical = metrics.find((metric) => metric.criticalFailure);
  if (critical !== undefined) {
    return {
      score: 0,
      criticalFailure: critical.name,
      reason: `score 0: critical metric ${critical.name} failed (${critical.reason})`,
    };
  }
  const withoutData = metrics.filter((metric) => metric.classification === 'NoData' && !metric.failed);
  if (withoutData.length / metrics.length >= NO_DATA_LIMIT) {
    return {
      score: 0,
      reason: `score 0: ${withoutData.length} of ${metrics.length} metrics had no data (${withoutData
        .map((metric) => metric.name)
        .join(', ')}), ${NO_DATA_LIMIT * 100} % or more`,
    };
  }
  const counted = metrics.filter((metric) => metric.classification !== 'NoData' || metric.failed);
  const totalWeight = counted.reduce((sum, metric) => sum + metric.weight, 0);
  const passedWeight = counted
    .filter((metric) => !metric.failed)
    .reduce((sum, metric) => sum + metric.weight, 0);
  // Nothing with a weight to judge by (every scored metric weighs 0): nothing held against the canary.
  const score = totalWeight === 0 ? 100 : Math.round((10_000 * passedWeight) / totalWeight) / 100;
  const failed = counted.filter((metric) => metric.failed);
  const failures =
    failed.length === 0
      ? 'no metric failed'
      : `failed: ${failed.map((metric) => `${metric.name} (${metric.classification})`).join(', ')}`;
  const left =
    withoutData.length === 0 ? '' : `; without data, left out: ${withoutData.map((m) => m.name).join(', ')}`;
  return { score, reason: `score ${score} of 100 by weight; ${failures}${left}` };
}

function samplesByName(
  samples: readonly JudgedMetricSamples[],
  settings: readonly JudgedMetricSettings[],
): Map<string, JudgedMetricSamples> {
  const byName = new Map<string, JudgedMetricSamples>();
  for (const sample of samples) {
    if (byName.has(sample.name)) {
      throw new Error(`judgeCanary: samples name metric "${sample.name}" twice; give each metric one entry`);
    }
    if (!settings.some((setting) => setting.name === sample.name)) {
      throw new Error(
        `judgeCanary: samples name metric "${sample.name}", which has no settings; add its settings or drop the samples`,
      );
    }
    byName.set(sample.name, sample);
  }
  return byName;
}

function validateThresholds(thresholds: JudgeThresholds): void {
  const { pass, marginal } = thresholds;
  if (!Number.isFinite(pass) || pass < 0 || pass > 100) {
    throw new Error(`judgeCanary: thresholds.pass is a score from 0 to 100 (95, say), not ${pass}`);
  }
  if (!Number.isFinite(marginal) || marginal < 0 || marginal > pass) {
    throw new Error(
      `judgeCanary: thresholds.marginal is a score from 0 to thresholds.pass (${pass}), such as 75, not ${marginal}`,
    );
  }
}

function validateSettings(
  setting: JudgedMetricSettings,
  index: number,
  all: readonly JudgedMetricSettings[],
): void {
  const at = `judgeCanary: settings[${index}] (${setting.name})`;
  if (all.findIndex((other) => other.name === setting.name) !== index) {
    throw new Error(`${at}: the metric name appears twice; give each metric one entry`);
  }
  if (!['increase', 'decrease', 'either'].includes(setting.direction)) {
    throw new Error(`${at}.direction is increase, decrease or either, not ${String(setting.direction)}`);
  }
  if (!['remove', 'replace'].includes(setting.nanStrategy)) {
    throw new Error(`${at}.nanStrategy is remove or replace, not ${String(setting.nanStrategy)}`);
  }
  if (setting.outliers !== undefined && !['remove', 'keep'].includes(setting.outliers)) {
    throw new Error(`${at}.outliers is remove or keep, not ${String(setting.outliers)}`);
  }
  if (!(setting.confidenceLevel > 0 && setting.confidenceLevel < 1)) {
    throw new Error(
      `${at}.confidenceLevel lies strictly between 0 and 1 (Kayenta's 0.98), not ${setting.confidenceLevel}`,
    );
  }
  if (!(Number.isFinite(setting.tolerance) && setting.tolerance >= 0)) {
    throw new Error(`${at}.tolerance is 0 or more (Kayenta's 0.25), not ${setting.tolerance}`);
  }
  if (!(Number.isFinite(setting.weight) && setting.weight >= 0)) {
    throw new Error(`${at}.weight is 0 or more, not ${setting.weight}`);
  }
  for (const field of [
    'allowedIncrease',
    'allowedDecrease',
    'criticalIncrease',
    'criticalDecrease',
    'outlierFactor',
  ] as const) {
    const value = setting[field];
    if (value !== undefined && !(Number.isFinite(value) && value > 0)) {
      throw new Error(`${at}.${field} is a number above 0 (a ratio such as 1.1), not ${value}`);
    }
  }
}
