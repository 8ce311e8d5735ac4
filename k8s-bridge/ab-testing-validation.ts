import { AnalysisConfigurationError } from '../analysis/analysis-configuration-error';
import { variantQueries } from '../analysis/experiment-queries';
import { parseDuration } from '../schemas/duration';
import type { Rollout } from '../schemas/rollout';

/**
 * What the bridge checks of `spec.strategy.abTesting` beyond its schema: the Services it names, a
 * router that can carry the experiment, durations that read and agree, and queries whose placeholders
 * Siirto can fill. Each problem names the field and the fix, like the other strategies' checks.
 */

const FIELD = 'spec.strategy.abTesting';

export function checkAbTesting(rollout: Rollout, existingServices: ReadonlySet<string>): string[] {
  const abTesting = rollout.spec.strategy.abTesting;
  if (!abTesting) return [];
  const { namespace, name } = rollout.metadata;
  const problems: string[] = [];
  for (const [service, field] of [
    [abTesting.variantAService, `${FIELD}.variantAService`],
    [abTesting.variantBService, `${FIELD}.variantBService`],
  ] as const) {
    if (!existingServices.has(service)) {
      problems.push(
        `${field}: Service "${service}" not found in namespace ${namespace}; create it, or name an existing Service`,
      );
    }
  }
  if (abTesting.variantAService === abTesting.variantBService) {
    problems.push(
      `${FIELD}.variantBService: "${abTesting.variantBService}" is also the variantAService; give variant B ` +
        'a Service of its own, so the route can send its requests to B alone',
    );
  }
  if (abTesting.trafficRouting.nginx) {
    problems.push(
      `${FIELD}.trafficRouting.nginx: ingress-nginx canary Ingresses cannot carry an A/B experiment (its ` +
        'header rule and the weights of the rest at once, as Siirto keeps them apart); route it with ' +
        'gatewayAPI: an HTTPRoute sending to both Services',
    );
  }
  const durations = {
    interval: parseDuration(abTesting.analysis.interval),
    minDuration: parseDuration(abTesting.analysis.minDuration),
    maxDuration: parseDuration(abTesting.maxDuration),
  };
  const fields = {
    interval: `${FIELD}.analysis.interval`,
    minDuration: `${FIELD}.analysis.minDuration`,
    maxDuration: `${FIELD}.maxDuration`,
  };
  const written = {
    interval: abTesting.analysis.interval,
    minDuration: abTesting.analysis.minDuration,
    maxDuration: abTesting.maxDuration,
  };
  for (const key of ['interval', 'minDuration', 'maxDuration'] as const) {
    if (durations[key] === undefined) {
      problems.push(
        `${fields[key]}: ${JSON.stringify(written[key])} is not a duration; write it like 30s, 5m or 1h30m`,
      );
    }
  }
  const { interval, minDuration, maxDuration } = durations;
  if (interval !== undefined && interval < 1_000) {
    problems.push(
      `${fields.interval}: ${written.interval} is under a second; look at most once a second, such as 10s`,
    );
  }
  if (minDuration !== undefined && maxDuration !== undefined && minDuration > maxDuration) {
    problems.push(
      `${fields.minDuration}: ${written.minDuration} is longer than maxDuration ${written.maxDuration}, so no ` +
        'verdict could ever come; shorten minDuration or lengthen maxDuration',
    );
  }
  try {
    variantQueries(abTesting.analysis, `${FIELD}.analysis`, {
      namespace,
      rollout: name,
      variant: 'A',
      hash: 'variant-hash',
      elapsedSeconds: 60,
    });
  } catch (error) {
    if (!(error instanceof AnalysisConfigurationError)) throw error;
    problems.push(...error.problems);
  }
  return problems;
}
