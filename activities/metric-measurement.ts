import { ApplicationFailure } from '@temporalio/common';
import { INVALID_CONFIGURATION } from '../analysis/analysis-configuration-error';
import { evaluateCondition, parseCondition, type Condition } from '../analysis/condition';
import { providerOfResolved, type MetricProvider } from '../analysis/metric-providers';
import type { MeasurementOutcome, ResolvedMetric } from '../analysis/resolved-metric';

/**
 * Takes one measurement of a metric: a number from its provider, judged by the metric's conditions.
 * Never retries: a measurement that cannot be taken is an `Error` outcome, and the workflow's limits
 * decide what errors mean. Missing data, NaN and ±Inf are `Inconclusive`, so an idle canary is never
 * judged Successful. What the provider cannot ever measure (a query Prometheus cannot parse, an
 * address the worker may not query) fails non-retryably with type `InvalidConfiguration`, since
 * asking again cannot mend it.
 */
export async function measureMetric(
  { metric }: { metric: ResolvedMetric },
  providers: readonly MetricProvider[],
): Promise<MeasurementOutcome> {
  const conditions = parseConditions(metric);
  const provider = providerOfResolved(metric, providers);
  if (!provider) {
    throw ApplicationFailure.nonRetryable(
      `metric "${metric.name}" (${metric.source}) is measured by provider "${metric.provider}", which this ` +
        'worker does not have: run a worker of the Siirto version that resolved it',
      INVALID_CONFIGURATION,
    );
  }
  const reading = await provider.measure(metric);
  if ('verdict' in reading) return reading;
  return judge(reading.value, reading.text, conditions);
}

interface Conditions {
  success?: { text: string; condition: Condition };
  failure?: { text: string; condition: Condition };
}

function parseConditions(metric: ResolvedMetric): Conditions {
  const parse = (text: string | undefined, which: string) => {
    if (text === undefined) return undefined;
    try {
      return { text, condition: parseCondition(text) };
    } catch (error) {
      // Resolution checked the conditions; this guards a metric built some other way.
      throw ApplicationFailure.nonRetryable(
        `the ${which} condition of metric "${metric.name}" (${metric.source}) is malformed: ${(error as Error).message}`,
        INVALID_CONFIGURATION,
      );
    }
  };
  return {
    success: parse(metric.successCondition, 'success'),
    failure: parse(metric.failureCondition, 'failure'),
  };
}

/** Applies the conditions: a failure condition outranks a success condition, and silence is Inconclusive. */
function judge(value: number, text: string, { success, failure }: Conditions): MeasurementOutcome {
  const outcome = (verdict: MeasurementOutcome['verdict'], why: string) => ({
    verdict,
    value: text,
    message: `${text}: ${why}`,
  });
  if (failure && evaluateCondition(failure.condition, value)) {
    return outcome('Failed', `failure condition "${failure.text}" held`);
  }
  if (success && evaluateCondition(success.condition, value)) {
    return outcome('Successful', `success condition "${success.text}" held`);
  }
  if (success && failure) {
    return outcome(
      'Inconclusive',
      `neither the success condition "${success.text}" nor the failure condition "${failure.text}" held`,
    );
  }
  if (success) return outcome('Failed', `success condition "${success.text}" did not hold`);
  if (failure) return outcome('Successful', `failure condition "${failure.text}" did not hold`);
  // Resolution rejects a metric without conditions; this guards a metric built some other way.
  return outcome('Inconclusive', 'the metric has no condition to judge by');
}
