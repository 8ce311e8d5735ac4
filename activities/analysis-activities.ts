import type { AnalysisContext, MeasurementOutcome, ResolvedMetric } from '../analysis/resolved-metric';
import type { RolloutAnalysis } from '../schemas/analysis';
import type { RolloutRef } from '../workflows/rollout-api';

export type { AnalysisContext } from '../analysis/resolved-metric';

/** The side effects of an analysis: reading its templates and taking measurements. */
export interface AnalysisActivities {
  /**
   * Reads the templates an analysis names and turns them, with the built-in metrics, into metrics ready
   * to measure. Fails non-retryably with type `InvalidConfiguration` naming `field` when a template is
   * missing, one of its conditions, durations or arguments is wrong, or it names a Prometheus address
   * the worker is not allowed to query.
   */
  resolveAnalysis(input: {
    rollout: RolloutRef;
    analysis: RolloutAnalysis;
    /** Path of the analysis in the Rollout, for messages: `spec.strategy.canary.steps[2].analysis`. */
    field: string;
    context: AnalysisContext;
    mode: 'step' | 'background';
  }): Promise<ResolvedMetric[]>;

  /**
   * Takes one measurement: an instant query, its result judged by the metric's conditions. Missing
   * data and NaN are Inconclusive, an unreachable Prometheus an Error; never Successful. Fails
   * non-retryably with type `InvalidConfiguration` when Prometheus cannot parse the query or the
   * metric's address is not one the worker may query.
   */
  measureMetric(input: { metric: ResolvedMetric }): Promise<MeasurementOutcome>;
}
