import type { MeasurementOutcome, ResolvedMetric } from '../../analysis/resolved-metric';
import type { RolloutAnalysis } from '../../schemas/analysis';
import type { LabelSelector } from '../../schemas/rollout';
import type { FollowedRollout, RolloutAddress } from '../../workflows/fleet-api';
import type { TemplateChange } from './template-change';

/**
 * What the fleet workflow does in one cluster. These run on that cluster's own queue
 * (`siirto-fleet-<SIIRTO_CLUSTER_ID>`), by its own workers, with its own kubeconfig: the fleet never
 * reaches into a cluster from outside. Every one is safe to retry.
 */
export interface FleetActivities {
  /** The Rollouts of a namespace a label selector picks, in name order. */
  findFleetRollouts(input: {
    cluster: string;
    namespace: string;
    selector: LabelSelector;
  }): Promise<RolloutAddress[]>;

  /**
   * Writes the release's change into the Rollout's spec.template (the bridge then rolls it out as a new
   * revision, as after `kubectl apply`) and marks it with the release. Returns the new template's hash
   * and the one it replaces; `unchanged` when the Rollout already had the change and runs it Healthy.
   */
  applyFleetChange(input: {
    target: RolloutAddress;
    /** `<app>/<release>`, written as the Rollout's `siirto.dev/fleet-release` annotation. */
    release: string;
    change: TemplateChange;
  }): Promise<{ templateHash: string; previousTemplateHash?: string; unchanged: boolean }>;

  /**
   * Follows the Rollout until its revision of `templateHash` ends Healthy or Degraded (Invalid counts
   * as Degraded), heartbeating its phase, step and weights. Fails non-retryably when the Rollout is
   * gone or its template changed outside the release.
   */
  followFleetRollout(input: {
    target: RolloutAddress;
    templateHash: string;
    /** The longest time between two heartbeats (the Rollout itself is watched, not read at intervals). */
    intervalMilliseconds: number;
  }): Promise<FollowedRollout & { phase: 'Healthy' | 'Degraded' }>;

  /** Aborts the Rollout's revision of `templateHash` if it is still in flight; says what it did. */
  abortFleetRollout(input: {
    target: RolloutAddress;
    templateHash: string;
    reason: string;
    by: string;
  }): Promise<string>;

  /** Promotes the Rollout's revision of `templateHash` as `siirto promote` does; refusals come back as text. */
  promoteFleetRollout(input: {
    target: RolloutAddress;
    templateHash: string;
    full: boolean;
    by: string;
  }): Promise<{ accepted: boolean; message: string }>;

  /**
   * Puts the template of `toTemplateHash` back (read from its ReplicaSet, as `siirto undo` does), if the
   * Rollout still has the release's template `fromTemplateHash`; it then rolls out as a new revision.
   */
  rollBackFleetRollout(input: {
    target: RolloutAddress;
    fromTemplateHash: string;
    toTemplateHash: string;
  }): Promise<{ restored: boolean; message: string }>;

  /** The gate analysis's metrics, resolved in this cluster from the Rollout's namespace's templates. */
  resolveFleetAnalysis(input: {
    target: RolloutAddress;
    analysis: RolloutAnalysis;
    field: string;
    templateHash: string;
    previousTemplateHash?: string;
  }): Promise<ResolvedMetric[]>;

  /** One measurement, by this cluster's worker (its Prometheus, or one a template names and it allows). */
  measureFleetMetric(input: { metric: ResolvedMetric }): Promise<MeasurementOutcome>;
}
