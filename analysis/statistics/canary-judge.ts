/**
 * Kayenta's canary judge (NetflixACAJudge), as published: each metric's per-pod values of the canary
 * are compared with the baseline's by a Mann-Whitney U test with a Hodges-Lehmann confidence interval,
 * after NaN handling and outlier removal; the classifications are weighted into a score of 0 to 100.
 * Pure, with no Node imports.
 *
 * INTERFACE ONLY: the statistics helper replaces the bodies; the judge's analysis codes against the types.
 */

/** Which change of a metric counts against the canary: a rise (latency, errors), a fall, or either. */
export type JudgeDirection = 'increase' | 'decrease' | 'either';

/** What to do with NaN values: drop them, or count them as 0 (a counter that has not moved). */
export type NanStrategy = 'remove' | 'replace';

export interface JudgedMetricSettings {
  name: string;
  direction: JudgeDirection;
  /** A critical metric that fails fails the whole judgement: the score is 0. */
  critical: boolean;
  /** Its share of the score against the other metrics' weights. */
  weight: number;
  nanStrategy: NanStrategy;
  /** Confidence level of the Hodges-Lehmann interval; Kayenta's default 0.98. */
  confidenceLevel: number;
  /** How far the canary may differ, as a fraction of the baseline's median, and still pass; 0.25. */
  tolerance: number;
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
  /** Whether this classification counts against the canary, given the metric's direction. */
  failed: boolean;
  critical: boolean;
  weight: number;
  /** Why, as people read it: `canary median 0.130 vs baseline 0.100: +30 % (interval +22 % to +38 %)`. */
  reason: string;
  baselineMedian?: number;
  canaryMedian?: number;
  /** Hodges-Lehmann estimate and interval of canary − baseline. */
  estimate?: number;
  lower?: number;
  upper?: number;
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
}

/** Judges the canary against the baseline, metric by metric, and scores it. */
export function judgeCanary(
  samples: readonly JudgedMetricSamples[],
  settings: readonly JudgedMetricSettings[],
  thresholds: JudgeThresholds,
): JudgeResult {
  void samples;
  void settings;
  void thresholds;
  throw new Error('not implemented yet');
}
