/**
 * One metric's judgement, following Kayenta's NetflixACAJudge (MannWhitneyClassifier): the canary's
 * values are compared with the baseline's after NaN handling and outlier removal, and classified
 *
 * - NoData: either side has no values left. Under `nanStrategy: replace` Kayenta classifies an empty
 *   side as Pass instead (a counter without a series has not moved), and so does this judge. A NoData
 *   metric counts against the canary only if it `mustHaveData`, or is critical.
 * - Pass, when both sides hold the same values, or one value repeated throughout.
 * - High, when the whole Hodges-Lehmann interval of canary − baseline lies above the tolerance band
 *   ±tolerance·|estimate| and the mean ratio canary/baseline reaches `allowedIncrease`; Low, when it
 *   lies wholly below the band and the ratio is at most `allowedDecrease`. The ratio gate is skipped
 *   when a mean is 0 (the ratio is undefined), as Kayenta skips it. Otherwise Pass.
 *
 * Note the band is Kayenta's: a fraction of the estimated shift itself, not of the baseline. It asks
 * that the interval clear zero by a margin proportional to the shift, a test of how sure the shift is;
 * how large a shift may be tolerated is the ratio gate's business (`allowedIncrease`, 1.1 = 10 % more).
 *
 * Unlike Kayenta, High and Low are reported whatever the metric's direction; `failed` says whether the
 * classification counts against the canary (a rise for `increase`, a fall for `decrease`, either for
 * `either`). A failed critical metric fails the whole canary when its ratio also reaches
 * `criticalIncrease` (`criticalDecrease` for a fall), or when it has no data.
 */

import type { JudgedMetricSamples, JudgedMetricSettings, MetricJudgement } from './canary-judge';
import { elementAt } from './element-at';
import { hodgesLehmannInterval, medianOfSorted } from './hodges-lehmann';
import { mannWhitneyTest } from './mann-whitney';
import { handleNaNs } from './nan-handling';
import { removeOutliers } from './outliers';

/** Kayenta's effect-size defaults: no gate beyond the interval test. */
export const DEFAULT_ALLOWED_RATIO = 1;
/** Kayenta's outlier factor: Tukey's "far out" fences. */
export const DEFAULT_OUTLIER_FACTOR = 3;

export function classifyMetric(
  samples: JudgedMetricSamples,
  settings: JudgedMetricSettings,
): MetricJudgement {
  const baseline = prepare(samples.baseline, settings);
  const canary = prepare(samples.canary, settings);
  const common = {
    name: settings.name,
    critical: settings.critical,
    weight: settings.weight,
    baselineCount: baseline.length,
    canaryCount: canary.length,
  };

  if (canary.length === 0 || baseline.length === 0) {
    const sides = `${canary.length} canary and ${baseline.length} baseline values`;
    const dropped = droppedNote(samples, canary.length, baseline.length);
    if (settings.nanStrategy === 'replace') {
      return {
        ...common,
        classification: 'Pass',
        failed: false,
        criticalFailure: false,
        reason: `${sides}${dropped}; with NaN counted as 0, a missing series means nothing happened: Pass`,
      };
    }
    const mustHaveData = settings.mustHaveData === true;
    const failed = settings.critical || mustHaveData;
    const consequence = settings.critical
      ? '; a critical metric without data fails the canary'
      : mustHaveData
        ? '; the metric must have data: it fails'
        : ', left out of the score';
    return {
      ...common,
      classification: 'NoData',
      failed,
      criticalFailure: settings.critical,
      reason: `no data: ${sides}${dropped}${consequence}`,
    };
  }

  const sortedBaseline = [...baseline].sort((a, b) => a - b);
  const sortedCanary = [...canary].sort((a, b) => a - b);
  const baselineMedian = medianOfSorted(sortedBaseline);
  const canaryMedian = medianOfSorted(sortedCanary);
  const medians = `canary median ${formatValue(canaryMedian)} vs baseline ${formatValue(baselineMedian)}`;
  const identical =
    sortedBaseline.length === sortedCanary.length &&
    sortedBaseline.every((value, index) => value === elementAt(sortedCanary, index));
  const oneValue =
    elementAt(sortedBaseline, 0) === elementAt(sortedBaseline, sortedBaseline.length - 1) &&
    elementAt(sortedCanary, 0) === elementAt(sortedCanary, sortedCanary.length - 1) &&
    elementAt(sortedBaseline, 0) === elementAt(sortedCanary, 0);
  if (identical || oneValue) {
    return {
      ...common,
      classification: 'Pass',
      failed: false,
      criticalFailure: false,
      baselineMedian,
      canaryMedian,
      estimate: 0,
      lower: 0,
      upper: 0,
      reason: `${medians}: the canary's values are the baseline's: Pass`,
    };
  }

  const test = mannWhitneyTest(canary, baseline);
  const interval = hodgesLehmannInterval(canary, baseline, settings.confidenceLevel);
  const band = settings.tolerance * Math.abs(interval.estimate);
  const meanRatio = ratioOfMeans(canary, baseline);
  const allowedIncrease = settings.allowedIncrease ?? DEFAULT_ALLOWED_RATIO;
  const allowedDecrease = settings.allowedDecrease ?? DEFAULT_ALLOWED_RATIO;
  const above = interval.lower > band;
  const below = interval.upper < -band;
  const ratioKnown = meanRatio !== undefined;
  const high = above && (!ratioKnown || meanRatio >= allowedIncrease);
  const low = below && (!ratioKnown || meanRatio <= allowedDecrease);
  const classification = high ? 'High' : low ? 'Low' : 'Pass';
  const failed = (high && settings.direction !== 'decrease') || (low && settings.direction !== 'increase');
  const beyondCritical = high
    ? !ratioKnown || meanRatio >= (settings.criticalIncrease ?? DEFAULT_ALLOWED_RATIO)
    : !ratioKnown || meanRatio <= (settings.criticalDecrease ?? DEFAULT_ALLOWED_RATIO);
  const criticalFailure = settings.critical && failed && beyondCritical;

  const scale = Math.abs(baselineMedian);
  const relative = (value: number): string =>
    scale > 0 ? formatPercent(value / scale) : formatSigned(value);
  const level = `${formatLevel(interval.confidenceLevel)} % interval`;
  const shift = `${relative(interval.estimate)} (${level} ${relative(interval.lower)} to ${relative(interval.upper)})`;
  const bandText = `tolerance band ±${scale > 0 ? formatPercent(band / scale).slice(1) : formatValue(band)}`;
  const ratioText = ratioKnown ? `mean ratio ${meanRatio.toFixed(2)}` : 'mean ratio undefined (a mean is 0)';
  let verdict: string;
  if (!above && !below) {
    verdict = `the interval reaches into the ${bandText}: Pass`;
  } else if (classification === 'Pass') {
    const allowed = above
      ? `allowed increase ${allowedIncrease.toFixed(2)}`
      : `allowed decrease ${allowedDecrease.toFixed(2)}`;
    verdict = `clear of the ${bandText}, but ${ratioText} does not pass the ${allowed}: Pass`;
  } else {
    const counts = failed
      ? `a failure for a metric judged on ${settings.direction}`
      : `no failure for a metric judged on ${settings.direction}`;
    verdict = `clear of the ${bandText}, ${ratioText}: ${classification}, ${counts}`;
    if (criticalFailure) verdict += '; critical: the canary fails';
  }

  return {
    ...common,
    classification,
    failed,
    criticalFailure,
    reason: `${medians}: ${shift}, ${verdict}`,
    baselineMedian,
    canaryMedian,
    estimate: interval.estimate,
    lower: interval.lower,
    upper: interval.upper,
    pValue: test.pValue,
    ...(ratioKnown ? { meanRatio } : {}),
  };
}

function prepare(values: readonly number[], settings: JudgedMetricSettings): number[] {
  const handled = handleNaNs(values, settings.nanStrategy);
  if ((settings.outliers ?? 'remove') === 'keep') return handled;
  return removeOutliers(handled, {
    factor: settings.outlierFactor ?? DEFAULT_OUTLIER_FACTOR,
    reduceSensitivity: true,
  });
}

/** Kayenta's mean ratio canary/baseline, undefined when either mean is 0. */
function ratioOfMeans(canary: readonly number[], baseline: readonly number[]): number | undefined {
  const mean = (values: readonly number[]): number => values.reduce((sum, v) => sum + v, 0) / values.length;
  const canaryMean = mean(canary);
  const baselineMean = mean(baseline);
  if (canaryMean === 0 || baselineMean === 0) return undefined;
  return canaryMean / baselineMean;
}

function droppedNote(samples: JudgedMetricSamples, canaryLeft: number, baselineLeft: number): string {
  const dropped = samples.canary.length - canaryLeft + (samples.baseline.length - baselineLeft);
  return dropped > 0 ? ` (${dropped} NaN, infinite or outlying values dropped)` : '';
}

/** A measured value, as people read it: three decimals, or four significant digits when far from 1. */
export function formatValue(value: number): string {
  const size = Math.abs(value);
  if (size !== 0 && (size >= 10_000 || size < 0.001)) return value.toPrecision(4);
  return value.toFixed(3);
}

function formatSigned(value: number): string {
  return `${value >= 0 ? '+' : '-'}${formatValue(Math.abs(value))}`;
}

/** A fraction as a signed percentage: one decimal below 10 %, whole percents above. */
export function formatPercent(fraction: number): string {
  const percent = Math.abs(fraction * 100);
  const digits = percent < 10 ? percent.toFixed(1) : percent.toFixed(0);
  return `${fraction >= 0 ? '+' : '-'}${digits} %`;
}

function formatLevel(confidenceLevel: number): string {
  return String(Math.round(confidenceLevel * 10_000) / 100);
}
