import type { ResolvedMetric } from '../../analysis/resolved-metric';
import {
  analysisPhase,
  concludeTally,
  newTally,
  recordMeasurement,
  recordUnusable,
  type MetricTally,
} from '../../analysis/metric-tally';
import type { MeasurementVerdict } from '../../schemas/analysis';

const metric: ResolvedMetric = {
  name: 'error-rate',
  source: 'builtIn',
  query: 'vector(0)',
  successCondition: 'result <= 0.05',
  intervalMilliseconds: 1_000,
  count: 3,
  initialDelayMilliseconds: 0,
  failureLimit: 1,
  inconclusiveLimit: 1,
  consecutiveErrorLimit: 2,
};

function tallyOf(verdicts: MeasurementVerdict[], of: ResolvedMetric = metric): MetricTally {
  return verdicts.reduce(
    (tally, verdict, index) =>
      recordMeasurement(tally, of, { verdict, message: verdict, measuredAt: `t${index}` }),
    newTally(of.name),
  );
}

describe('a metric tally', () => {
  it('succeeds once it has its count of measurements and nothing holds it', () => {
    expect(tallyOf(['Successful', 'Successful']).phase).toBe('Running');
    expect(tallyOf(['Successful', 'Successful', 'Successful']).phase).toBe('Successful');
  });

  it('fails at once, as an Error, on a measurement that can never be taken as the metric is written', () => {
    const unusable = recordUnusable(tallyOf(['Successful']), 'Prometheus cannot run the query', 'later');
    expect(unusable).toMatchObject({ phase: 'Failed', taken: 2, errors: 1, successful: 1, failed: 0 });
    expect(unusable.measurements.at(-1)).toEqual({
      verdict: 'Error',
      message: 'Prometheus cannot run the query',
      measuredAt: 'later',
    });
    expect(analysisPhase([unusable, tallyOf(['Successful', 'Successful', 'Successful'])])).toBe('Failed');
  });

  it('fails on one failure more than failureLimit', () => {
    expect(tallyOf(['Failed']).phase).toBe('Running');
    expect(tallyOf(['Failed', 'Failed'])).toMatchObject({ phase: 'Failed', failed: 2 });
  });

  it('is held by inconclusive measurements beyond the limit until a successful one, even past its count', () => {
    const held = tallyOf(['Inconclusive', 'Inconclusive', 'Inconclusive']);
    expect(held).toMatchObject({ phase: 'Inconclusive', taken: 3 });
    const released = recordMeasurement(held, metric, {
      verdict: 'Successful',
      message: 'ok',
      measuredAt: 'later',
    });
    expect(released).toMatchObject({ phase: 'Successful', inconclusive: 0 });
  });

  it('counts errors beyond consecutiveErrorLimit in a row as one inconclusive measurement', () => {
    expect(tallyOf(['Error', 'Error'])).toMatchObject({ inconclusive: 0, errors: 2, phase: 'Running' });
    expect(tallyOf(['Error', 'Error', 'Error'])).toMatchObject({ inconclusive: 1, errors: 3 });
    expect(tallyOf(['Error', 'Error', 'Successful', 'Error', 'Error'])).toMatchObject({ inconclusive: 0 });
    expect(tallyOf(Array<MeasurementVerdict>(6).fill('Error')).phase).toBe('Inconclusive');
  });

  it('never completes on errors, missing data or a tolerated failure, however many were taken', () => {
    expect(tallyOf(['Error', 'Error', 'Inconclusive']).phase).toBe('Running');
    expect(tallyOf(['Successful', 'Successful', 'Failed']).phase).toBe('Running');
    expect(tallyOf(['Successful', 'Successful', 'Failed', 'Successful']).phase).toBe('Successful');
  });

  it('never completes a background metric (no count) on its own', () => {
    const endless = { ...metric, count: undefined };
    expect(tallyOf(Array<MeasurementVerdict>(20).fill('Successful'), endless).phase).toBe('Running');
  });

  it('concludes a background metric only on a latest measurement that succeeded', () => {
    const background = { ...metric, count: undefined };
    expect(concludeTally(tallyOf([], background)).phase).toBe('Running');
    expect(concludeTally(tallyOf(['Successful', 'Inconclusive'], background)).phase).toBe('Running');
    expect(concludeTally(tallyOf(['Successful', 'Failed'], background)).phase).toBe('Running');
    expect(concludeTally(tallyOf(['Successful', 'Error'], background)).phase).toBe('Running');
    expect(concludeTally(tallyOf(['Failed', 'Successful'], background)).phase).toBe('Successful');
    expect(concludeTally(tallyOf(['Failed', 'Failed'], background)).phase).toBe('Failed');
    const held = tallyOf(['Inconclusive', 'Inconclusive'], background);
    expect(concludeTally(held)).toBe(held);
  });

  it('keeps the last five measurements', () => {
    const tally = tallyOf(
      ['Successful', 'Failed', 'Successful', 'Successful', 'Inconclusive', 'Successful'],
      {
        ...metric,
        count: 10,
      },
    );
    expect(tally.measurements.map((measurement) => measurement.measuredAt)).toEqual([
      't1',
      't2',
      't3',
      't4',
      't5',
    ]);
  });

  it('adds metrics up: one failure fails the analysis, one hold holds it, all must succeed', () => {
    const succeeded = tallyOf(['Successful', 'Successful', 'Successful']);
    const running = tallyOf(['Successful']);
    const held = tallyOf(['Inconclusive', 'Inconclusive']);
    const failed = tallyOf(['Failed', 'Failed']);
    expect(analysisPhase([succeeded, running])).toBe('Running');
    expect(analysisPhase([succeeded, succeeded])).toBe('Successful');
    expect(analysisPhase([succeeded, held])).toBe('Inconclusive');
    expect(analysisPhase([held, failed])).toBe('Failed');
  });
});
