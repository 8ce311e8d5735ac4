import type { ExperimentCounts, VariantCounts } from '../../activities/experiment-counts';
import {
  differenceInterval,
  type DifferenceInterval,
  type ProportionSample,
} from '../../analysis/statistics/sequential-test';
import type { AbTestingAnalysis } from '../../schemas/rollout';

/**
 * An A/B experiment's guardrails: limits variant B must keep while the experiment runs, each judged at
 * every look and stopping B at once when broken. Each compares a bad proportion of B's requests with
 * A's (errors of all requests; requests slower than a threshold of all timed) with the same
 * anytime-valid confidence sequence as the verdict (sequential-test.ts), so looking at every interval
 * does not make a false stop likelier: B is stopped only once the interval for B's proportion minus
 * A's lies wholly above the guardrail's maxIncrease. Pure, with no Node imports: the workflow reads it.
 */

export type GuardrailName = 'errorRate' | 'latency';

/** A broken guardrail: which, and why in words, with the counts and the interval. */
export interface GuardrailBreach {
  guardrail: GuardrailName;
  why: string;
}

/** `+0.210 [+0.132, +0.288] at 95%`: an estimate of B's proportion minus A's, and its interval. */
export function describeInterval(interval: DifferenceInterval): string {
  const signed = (value: number) => `${value >= 0 ? '+' : ''}${value.toFixed(3)}`;
  return (
    `B − A ${signed(interval.estimate)} [${signed(interval.lower)}, ${signed(interval.upper)}] ` +
    `at ${Math.round(interval.confidenceLevel * 1000) / 10}%`
  );
}

interface Guardrail {
  name: GuardrailName;
  maxIncrease: number;
  /** The bad requests of all a variant's counted, when its counts have them. */
  sample: (counts: VariantCounts) => ProportionSample | undefined;
  /** `error rate`: what the proportion is, in words. */
  what: string;
}

function guardrailsOf(analysis: AbTestingAnalysis): Guardrail[] {
  const { errorRate, latency } = analysis.guardrails ?? {};
  const guardrails: Guardrail[] = [];
  if (errorRate) {
    guardrails.push({
      name: 'errorRate',
      maxIncrease: errorRate.maxIncrease,
      sample: ({ errors, requests }) =>
        errors === undefined || requests === undefined ? undefined : { successes: errors, trials: requests },
      what: 'error rate',
    });
  }
  if (latency) {
    guardrails.push({
      name: 'latency',
      maxIncrease: latency.maxIncrease,
      sample: ({ slowRequests, timedRequests }) =>
        slowRequests === undefined || timedRequests === undefined
          ? undefined
          : { successes: slowRequests, trials: timedRequests },
      what: `share of requests slower than ${latency.thresholdSeconds}s`,
    });
  }
  return guardrails;
}

/**
 * The first guardrail B breaks at this look, in the order errorRate, latency; undefined while it keeps
 * them all. A guardrail with no counts of either variant yet is kept.
 */
export function guardrailBreach(
  analysis: AbTestingAnalysis,
  counts: ExperimentCounts,
): GuardrailBreach | undefined {
  for (const guardrail of guardrailsOf(analysis)) {
    const a = guardrail.sample(counts.A);
    const b = guardrail.sample(counts.B);
    if (!a || !b || a.trials === 0 || b.trials === 0) continue;
    const interval = differenceInterval(a, b, analysis.confidenceLevel, {
      tunedForTrials: analysis.minSampleSize,
    });
    if (interval.lower <= guardrail.maxIncrease) continue;
    return {
      guardrail: guardrail.name,
      why:
        `guardrail ${guardrail.name}: B's ${guardrail.what} is worse than A's by more than ` +
        `${guardrail.maxIncrease} (A ${a.successes}/${a.trials}, B ${b.successes}/${b.trials}; ` +
        `${guardrail.what} ${describeInterval(interval)})`,
    };
  }
  return undefined;
}
