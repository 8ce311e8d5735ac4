/**
 * Patch IDs of the rollout workflows: each marks a change of what a run does, taken with `patched()`
 * so that runs started before it replay as they ran. Strategies share them; an ID is never reused or
 * renamed, since recorded histories carry it.
 */

/** Patch ID: a long run continues as new at a quiet point, carrying its state (continue-as-new.ts). */
export const CONTINUE_AS_NEW = 'continue-as-new-at-quiet-point';

/** Patch ID: a weight change on pods already asked for checks their readiness in the route write. */
export const ROUTE_WRITE_CHECKS_CANARY = 'route-write-checks-canary';

/** Patch ID: the steps done, a background analysis must succeed once more before promotion. */
export const CONCLUDE_BACKGROUND_ANALYSIS = 'conclude-background-analysis';

/**
 * Patch ID: while the canary has traffic, a guard moves it back to stable the moment none of the
 * canary's pods is Ready, and gives it back once they are.
 */
export const GUARD_CANARY_TRAFFIC = 'guard-canary-traffic';

/**
 * Patch ID: the canary is scaled to full size while abort is still possible, so any failure before
 * the stable Service moves to it (a quota, a lack of capacity, a first revision that never becomes
 * Ready) takes the abort path instead of failing the workflow on a split.
 */
export const FILL_BEFORE_FLIP = 'fill-canary-before-flip';

/**
 * Patch ID: going back to stable is best-effort per part (Services, route, canary pods), and what
 * could not be restored is said in the Degraded message; a promotion that fails before the route is
 * on the new stable goes back to stable too. Something the cluster did never fails the workflow.
 */
export const SAFE_RETURN_TO_STABLE = 'safe-return-to-stable';

/** Patch ID: a newer revision that arrived while this one waited for its predecessor is honoured first. */
export const SUPERSEDED_BEFORE_START = 'superseded-before-start';

/**
 * Patch ID: a wait for pods only reads, so an abort leaves it at once instead of waiting for the
 * activity to hear of it at its next heartbeat, and the traffic moves within the second.
 */
export const PROMPT_ABORT = 'prompt-abort';

/**
 * Patch ID: pods that traffic leaves (the canary's on an abort or supersede, the old stable's after a
 * promotion) keep running for their delay even when a newer revision comes, which then scales them
 * down when their time is up: a gateway applies new weights a little later than they are written.
 */
export const DELAYED_SCALE_DOWN = 'delayed-scale-down';

/** Patch ID: a promote acts on the pause or hold current when it arrives, never on a later one. */
export const PROMOTE_ACTS_ON_CURRENT_GATE = 'promote-acts-on-current-gate';

/**
 * Patch ID: a change of spec.replicas (kubectl scale, an autoscaler) resizes the stable pods and the
 * canary's share of them where the rollout is, without a new revision.
 */
export const RESIZE_WITHOUT_REVISION = 'resize-without-revision';

/** Patch ID: the guard also watches the routes, and weights someone else set there are set back. */
export const KEEP_ROUTE_WEIGHTS = 'keep-route-weights';

/**
 * Patch ID: the canary steps `setHeaderRoute` and `setMirrorRoute` add, change or remove their managed
 * routes (the canary's pods Ready first), and every managed route is taken off the routes again when
 * the canary is promoted, aborted or superseded.
 */
export const MANAGED_ROUTE_STEPS = 'managed-route-steps';

/**
 * Patch ID: a setCanaryScale step sizes the canary apart from its traffic weight (replicas, or a
 * percentage of spec.replicas) until one with matchTrafficWeight; setWeight then moves traffic only.
 */
export const CANARY_SCALE_STEPS = 'canary-scale-steps';

/**
 * Patch ID: a canary without trafficRouting approximates each weight by the pods of each revision,
 * within maxSurge and maxUnavailable, and an abort brings the stable pods back to full size first.
 */
export const WEIGHTS_BY_REPLICAS = 'weights-by-replicas';

/**
 * Patch ID: a background analysis started again after a promote past its hold stopped it gets a
 * workflow ID of its own, since the stopped one may still be closing and would refuse its name.
 */
export const FRESH_BACKGROUND_ANALYSIS_ID = 'fresh-background-analysis-id';

/**
 * Patch ID: the strategy's webhooks are called at the moments Flagger calls them (confirm-rollout,
 * pre-rollout, confirm-traffic-increase, rollout, confirm-promotion, post-rollout, rollback, event);
 * taken only by a run whose Rollout has webhooks.
 */
export const WEBHOOKS = 'webhooks';

/**
 * Patch ID: a canary step `pause: { external: true }` takes the canary's weight from outside (the
 * setWeight Update) until a promote ends it as it ends a pause.
 */
export const EXTERNAL_WEIGHT_STEPS = 'external-weight-steps';

/**
 * Patch ID: a canary step `analysis: { judge }` judges the canary against a baseline of the stable
 * revision started beside it (canary-judge-step.ts); taken only by a run whose Rollout has one.
 */
export const JUDGE_AGAINST_BASELINE = 'judge-against-baseline';

/**
 * Patch ID: through a Gateway API route, a judge's baseline gets the canary's share of traffic from a
 * backend of its own (the Service `<rollout>-baseline`, its pods with a pod-template-hash of their
 * own), taken off the route before its pods go; taken only by a judged step with a Gateway API router.
 */
export const BASELINE_TRAFFIC_SHARE = 'baseline-traffic-share';

/**
 * An A/B experiment continues as new between two looks once its history is long, carrying when it
 * began and its looks so far; it ran in one run before, its looks bounded by the bridge.
 */
export const AB_EXPERIMENT_CONTINUE_AS_NEW = 'ab-experiment-continue-as-new';

/**
 * Patch ID: the canary's background analysis may judge the canary against a baseline of the stable
 * revision (canary-background-judge.ts) from its starting step to the end; taken only by a run whose
 * Rollout's background analysis has a judge.
 */
export const BACKGROUND_JUDGE = 'background-judge';

/**
 * Patch ID: a canary's first step that sets a weight has its ReplicaSet written first, alone, as the
 * run starts; the status, its Event, the CDEvent and the Services follow it rather than compete with it.
 */
export const CANARY_REPLICASET_FIRST = 'canary-replicaset-first';

/**
 * Patch ID: a promote from a pause to a weight the canary's pods already serve writes the route first,
 * alone; the status that says so follows the write rather than compete with it.
 */
export const ROUTE_BEFORE_STATUS = 'route-before-status';

/**
 * Patch ID: a fleet release announces itself in CDEvents (workflows/fleet/release-announcements.ts):
 * pipelineRun started and finished, taskRun started and finished for each wave.
 */
export const FLEET_RELEASE_CDEVENTS = 'fleet-release-cdevents';
