import {
  JUDGE_DEFAULTS,
  judgeCanary,
  type JudgedMetricSamples,
  type JudgedMetricSettings,
} from '../../analysis/statistics/canary-judge';
import { handleNaNs } from '../../analysis/statistics/nan-handling';
import { outlierFences, percentile, removeOutliers } from '../../analysis/statistics/outliers';

const thresholds = JUDGE_DEFAULTS.thresholds;

function metric(name: string, overrides: Partial<JudgedMetricSettings> = {}): JudgedMetricSettings {
  return {
    name,
    direction: 'increase',
    critical: false,
    weight: 1,
    nanStrategy: 'remove',
    confidenceLevel: JUDGE_DEFAULTS.confidenceLevel,
    tolerance: JUDGE_DEFAULTS.tolerance,
    ...overrides,
  };
}

// Mean request latency of five baseline pods, in seconds, and of five canary pods of the same version.
const baselineLatency = [0.1, 0.104, 0.097, 0.102, 0.099];
const sameVersionLatency = [0.101, 0.098, 0.103, 0.1, 0.096];
// Five canary pods 30 % slower, each with its own noise.
const slowerLatency = [0.131, 0.127, 0.134, 0.129, 0.132];
const fasterLatency = [0.07, 0.072, 0.069, 0.071, 0.068];

function samples(name: string, canary: number[], baseline: number[] = baselineLatency): JudgedMetricSamples {
  return { name, canary, baseline };
}

describe('the canary judge on one latency metric over five pods each', () => {
  it('fails a canary 30 % slower than its baseline when the metric is judged on increase', () => {
    const result = judgeCanary([samples('latency', slowerLatency)], [metric('latency')], thresholds);
    expect(result).toMatchObject({ score: 0, verdict: 'Failed' });
    const [latency] = result.metrics;
    expect(latency).toMatchObject({
      classification: 'High',
      failed: true,
      baselineMedian: 0.1,
      canaryMedian: 0.131,
      baselineCount: 5,
      canaryCount: 5,
    });
    expect(latency!.lower).toBeGreaterThan(0.25 * latency!.estimate!);
    expect(latency!.reason).toMatch(
      /^canary median 0\.131 vs baseline 0\.100: \+30 % \(98 % interval \+2\d % to \+3\d %\), clear of the tolerance band ±7\.\d %, mean ratio 1\.3\d: High, a failure for a metric judged on increase$/,
    );
    expect(result.reason).toBe('score 0 of 100 by weight; failed: latency (High): Failed, below marginal 75');
  });

  it('passes a canary whose pods measure like the baseline’s', () => {
    const result = judgeCanary([samples('latency', sameVersionLatency)], [metric('latency')], thresholds);
    expect(result).toMatchObject({ score: 100, verdict: 'Successful' });
    const [latency] = result.metrics;
    expect(latency).toMatchObject({ classification: 'Pass', failed: false });
    expect(latency!.lower).toBeLessThan(0);
    expect(latency!.upper).toBeGreaterThan(0);
    expect(latency!.reason).toContain('the interval reaches into the tolerance band');
  });

  it('passes a canary whose values are exactly the baseline’s, in any order', () => {
    const result = judgeCanary(
      [samples('latency', [...baselineLatency].reverse())],
      [metric('latency')],
      thresholds,
    );
    expect(result.metrics[0]).toMatchObject({ classification: 'Pass', failed: false, estimate: 0 });
  });

  it('reports a rise as High but fails it only when the direction counts a rise against the canary', () => {
    const judged = (direction: JudgedMetricSettings['direction'], canary: number[]) =>
      judgeCanary([samples('latency', canary)], [metric('latency', { direction })], thresholds).metrics[0];
    expect(judged('decrease', slowerLatency)).toMatchObject({ classification: 'High', failed: false });
    expect(judged('decrease', slowerLatency)!.reason).toContain('no failure for a metric judged on decrease');
    expect(judged('either', slowerLatency)).toMatchObject({ classification: 'High', failed: true });
    expect(judged('increase', fasterLatency)).toMatchObject({ classification: 'Low', failed: false });
    expect(judged('decrease', fasterLatency)).toMatchObject({ classification: 'Low', failed: true });
    expect(judged('either', fasterLatency)).toMatchObject({ classification: 'Low', failed: true });
  });

  it('passes a clear rise that stays below the allowed increase of the means', () => {
    const result = judgeCanary(
      [samples('latency', slowerLatency)],
      [metric('latency', { allowedIncrease: 1.5 })],
      thresholds,
    );
    expect(result.metrics[0]).toMatchObject({ classification: 'Pass', failed: false });
    expect(result.metrics[0]!.reason).toContain('does not pass the allowed increase 1.50: Pass');
    expect(result.score).toBe(100);
  });

  it('fails a 30 % slower canary also when pods report the same rounded values, by the normal approximation', () => {
    const result = judgeCanary(
      [samples('latency', [0.13, 0.13, 0.131, 0.129, 0.13], [0.1, 0.1, 0.101, 0.1, 0.099])],
      [metric('latency')],
      thresholds,
    );
    expect(result.metrics[0]).toMatchObject({ classification: 'High', failed: true, estimate: 0.03 });
    expect(result.verdict).toBe('Failed');
  });

  it('fails a canary whose every pod measures one value 30 % above the baseline pods’ one value', () => {
    // Kayenta adds noise to get an interval here; its noise-free limit is the one difference itself.
    const result = judgeCanary(
      [samples('latency', [0.13, 0.13, 0.13], [0.1, 0.1, 0.1])],
      [metric('latency')],
      thresholds,
    );
    expect(result.metrics[0]).toMatchObject({ classification: 'High', failed: true });
    expect(result.metrics[0]!.lower).toBeCloseTo(0.03, 12);
    expect(result.metrics[0]!.upper).toBeCloseTo(0.03, 12);
  });

  it('judges the same samples the same way every time', () => {
    const once = judgeCanary([samples('latency', slowerLatency)], [metric('latency')], thresholds);
    const again = judgeCanary([samples('latency', slowerLatency)], [metric('latency')], thresholds);
    expect(again).toEqual(once);
  });
});

describe('NaN handling', () => {
  it('drops NaN values, or counts them as 0, and drops infinities either way', () => {
    expect(handleNaNs([1, Number.NaN, 2, Number.POSITIVE_INFINITY], 'remove')).toEqual([1, 2]);
    expect(handleNaNs([1, Number.NaN, 2, Number.NEGATIVE_INFINITY], 'replace')).toEqual([1, 0, 2]);
  });

  it('judges on the values left once NaN values are removed', () => {
    const result = judgeCanary(
      [samples('latency', [...slowerLatency, Number.NaN], [Number.NaN, ...baselineLatency])],
      [metric('latency')],
      thresholds,
    );
    expect(result.metrics[0]).toMatchObject({ classification: 'High', canaryCount: 5, baselineCount: 5 });
  });

  it('finds no data where every value was NaN and NaN values are removed', () => {
    const result = judgeCanary(
      [samples('errors', [Number.NaN, Number.NaN], [0, 0, 0]), samples('latency', sameVersionLatency)],
      [metric('errors'), metric('latency')],
      thresholds,
    );
    expect(result.metrics[0]).toMatchObject({ classification: 'NoData', failed: false, canaryCount: 0 });
    expect(result.metrics[0]!.reason).toBe(
      'no data: 0 canary and 3 baseline values (2 NaN, infinite or outlying values dropped), left out of the score',
    );
  });

  it('fails errors on a canary whose baseline had none when NaN counts as 0', () => {
    // The baseline pods' error ratio is 0/0 = NaN: no requests failed. Replaced, the baseline is all 0.
    const result = judgeCanary(
      [
        samples(
          'errors',
          [0.03, 0.04, 0.05, 0.02, 0.06],
          [Number.NaN, Number.NaN, Number.NaN, Number.NaN, 0],
        ),
      ],
      [metric('errors', { nanStrategy: 'replace' })],
      thresholds,
    );
    expect(result.metrics[0]).toMatchObject({ classification: 'High', failed: true, baselineMedian: 0 });
    // No mean ratio with a baseline mean of 0: the effect-size gate is skipped, as Kayenta skips it.
    expect(result.metrics[0]!.meanRatio).toBeUndefined();
    expect(result.metrics[0]!.reason).toContain('+0.040 (98 % interval +0.020 to +0.060)');
  });

  it('passes a metric with no values on one side when NaN counts as 0, as Kayenta does', () => {
    const result = judgeCanary(
      [samples('errors', [], [0, 0, 0])],
      [metric('errors', { nanStrategy: 'replace' })],
      thresholds,
    );
    expect(result.metrics[0]).toMatchObject({ classification: 'Pass', failed: false });
  });
});

describe('outlier removal', () => {
  it("estimates percentiles as Kayenta's Commons Math does, which is R's quantile type 6", () => {
    // R 4.2.2: quantile(c(3.1, 0.4, 7.7, 2.2, 9.9, 5.0, 1.3), c(0.01, 0.25, 0.5, 0.75, 0.99), type = 6)
    //          -> 0.4 1.3 3.1 7.7 9.9
    const values = [3.1, 0.4, 7.7, 2.2, 9.9, 5.0, 1.3];
    expect([1, 25, 50, 75, 99].map((p) => percentile(values, p))).toEqual([0.4, 1.3, 3.1, 7.7, 9.9]);
    // R: quantile(1:10, 0.3, type = 6) -> 3.3
    expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 30)).toBeCloseTo(3.3, 12);
  });

  it('removes values more than 3 interquartile ranges beyond the quartiles', () => {
    // Quartiles 0.965 and 1.075 (positions 2.5 and 7.5 of 9): fences at 0.635 and 1.405.
    const values = [1, 1.1, 0.9, 1.05, 0.95, 1.02, 0.98, 1.01, 50];
    expect(outlierFences(values, { factor: 3, reduceSensitivity: false }).upper).toBeCloseTo(1.405, 12);
    expect(removeOutliers(values, { factor: 3, reduceSensitivity: false })).toEqual([
      1, 1.1, 0.9, 1.05, 0.95, 1.02, 0.98, 1.01,
    ]);
  });

  it('keeps every value of fewer than 99 under reduced sensitivity, whose fences reach the 1st and 99th percentiles', () => {
    const values = [1, 1.1, 0.9, 1.05, 0.95, 1.02, 0.98, 1.01, 50];
    expect(outlierFences(values).upper).toBe(50);
    expect(removeOutliers(values)).toEqual(values);
  });

  it('takes a spike on one canary series out of the judgement', () => {
    const baseline = Array.from({ length: 100 }, (_, i) => 0.1 + i * 0.0001);
    // Every canary series 5 % higher, and one at 50 s: a stuck request, not the version's latency.
    const canary = baseline.map((value, i) => (i === 99 ? 50 : value * 1.05));
    const judged = (outliers: 'remove' | 'keep') =>
      judgeCanary(
        [{ name: 'latency', baseline, canary }],
        [metric('latency', { allowedIncrease: 1.2, outliers })],
        thresholds,
      ).metrics[0];
    expect(judged('remove')).toMatchObject({ classification: 'Pass', canaryCount: 99, baselineCount: 100 });
    expect(judged('remove')!.meanRatio).toBeCloseTo(1.05, 2);
    expect(judged('keep')).toMatchObject({ classification: 'High', failed: true, canaryCount: 100 });
  });
});

describe('the score and the verdict', () => {
  it('is 0 when a critical metric fails, naming it, whatever the other metrics say', () => {
    const result = judgeCanary(
      [
        samples('latency', slowerLatency),
        samples('cpu', sameVersionLatency),
        samples('memory', sameVersionLatency),
      ],
      [metric('latency', { critical: true }), metric('cpu'), metric('memory')],
      thresholds,
    );
    expect(result).toMatchObject({ score: 0, verdict: 'Failed', criticalFailure: 'latency' });
    expect(result.metrics[0]).toMatchObject({ failed: true, criticalFailure: true });
    expect(result.reason).toMatch(/^score 0: critical metric latency failed \(canary median 0\.131/);
  });

  it('counts a failed critical metric as an ordinary failure while it stays below its critical increase', () => {
    const result = judgeCanary(
      [samples('latency', slowerLatency), samples('cpu', sameVersionLatency)],
      [metric('latency', { critical: true, criticalIncrease: 1.5 }), metric('cpu')],
      thresholds,
    );
    expect(result).toMatchObject({ score: 50, verdict: 'Failed' });
    expect(result.criticalFailure).toBeUndefined();
    expect(result.metrics[0]).toMatchObject({ failed: true, criticalFailure: false });
  });

  it('is 0 when a critical metric has no data, as in Kayenta', () => {
    const result = judgeCanary(
      [samples('cpu', sameVersionLatency), samples('memory', sameVersionLatency)],
      [metric('latency', { critical: true }), metric('cpu'), metric('memory')],
      thresholds,
    );
    expect(result).toMatchObject({ score: 0, verdict: 'Failed', criticalFailure: 'latency' });
    expect(result.metrics[0]!.reason).toContain('a critical metric without data fails the canary');
  });

  it('weighs each metric by its weight', () => {
    const settings = [metric('latency', { weight: 3 }), metric('errors'), metric('cpu')];
    const lightFails = judgeCanary(
      [
        samples('latency', sameVersionLatency),
        samples('errors', slowerLatency),
        samples('cpu', sameVersionLatency),
      ],
      settings,
      thresholds,
    );
    expect(lightFails.score).toBe(80);
    const heavyFails = judgeCanary(
      [
        samples('latency', slowerLatency),
        samples('errors', sameVersionLatency),
        samples('cpu', sameVersionLatency),
      ],
      settings,
      thresholds,
    );
    expect(heavyFails.score).toBe(40);
  });

  it('is Successful at or above pass, Inconclusive at or above marginal, Failed below', () => {
    // The weight-1 metric fails; the other carries the rest of the weight.
    const verdictAt = (passingWeight: number) =>
      judgeCanary(
        [samples('latency', sameVersionLatency), samples('errors', slowerLatency)],
        [metric('latency', { weight: passingWeight }), metric('errors')],
        thresholds,
      );
    expect(verdictAt(19)).toMatchObject({ score: 95, verdict: 'Successful' });
    expect(verdictAt(18)).toMatchObject({ score: 94.74, verdict: 'Inconclusive' });
    expect(verdictAt(3)).toMatchObject({ score: 75, verdict: 'Inconclusive' });
    expect(verdictAt(2)).toMatchObject({ score: 66.67, verdict: 'Failed' });
    expect(verdictAt(19).reason).toBe(
      'score 95 of 100 by weight; failed: errors (High): Successful, at or above pass 95',
    );
    expect(verdictAt(3).reason).toContain('Inconclusive, below pass 95, at or above marginal 75');
  });

  it('leaves a metric without data out of the score', () => {
    const result = judgeCanary(
      [samples('latency', sameVersionLatency), samples('cpu', sameVersionLatency)],
      [metric('latency'), metric('cpu'), metric('errors')],
      thresholds,
    );
    expect(result).toMatchObject({ score: 100, verdict: 'Successful' });
    expect(result.metrics[2]).toMatchObject({ name: 'errors', classification: 'NoData', failed: false });
    expect(result.reason).toContain('without data, left out: errors');
  });

  it('counts a metric without data as failed when it must have data', () => {
    const result = judgeCanary(
      [samples('latency', sameVersionLatency)],
      [metric('latency'), metric('errors', { mustHaveData: true })],
      thresholds,
    );
    expect(result).toMatchObject({ score: 50, verdict: 'Failed' });
    expect(result.metrics[1]).toMatchObject({
      classification: 'NoData',
      failed: true,
      criticalFailure: false,
    });
  });

  it('is 0 when half the metrics or more have no data', () => {
    const result = judgeCanary(
      [samples('latency', sameVersionLatency), samples('cpu', sameVersionLatency)],
      [metric('latency'), metric('cpu'), metric('errors'), metric('memory')],
      thresholds,
    );
    expect(result).toMatchObject({ score: 0, verdict: 'Failed' });
    expect(result.reason).toBe(
      'score 0: 2 of 4 metrics had no data (errors, memory), 50 % or more: Failed, below marginal 75',
    );
  });
});

describe('bad input to the judge', () => {
  it('names the field and the fix', () => {
    expect(() => judgeCanary([samples('latency', slowerLatency)], [metric('cpu')], thresholds)).toThrow(
      'judgeCanary: samples name metric "latency", which has no settings; add its settings or drop the samples',
    );
    expect(() => judgeCanary([], [metric('latency', { confidenceLevel: 98 })], thresholds)).toThrow(
      "judgeCanary: settings[0] (latency).confidenceLevel lies strictly between 0 and 1 (Kayenta's 0.98), not 98",
    );
    expect(() => judgeCanary([], [metric('latency', { weight: -1 })], thresholds)).toThrow(
      /settings\[0\] \(latency\)\.weight is 0 or more/,
    );
    expect(() => judgeCanary([], [metric('latency')], { pass: 75, marginal: 95 })).toThrow(
      /thresholds\.marginal is a score from 0 to thresholds\.pass \(75\)/,
    );
    expect(() => judgeCanary([], [metric('latency'), metric('latency')], thresholds)).toThrow(
      /settings\[1\] \(latency\): the metric name appears twice/,
    );
  });
});
