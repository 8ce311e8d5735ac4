import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  ChildWorkflowFailure,
  condition,
  isCancellation,
  log,
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  startChild,
  upsertSearchAttributes,
  workflowInfo,
  type ChildWorkflowHandle,
} from '@temporalio/workflow';
import type { AnalysisActivities } from '../activities/analysis-activities';
import type { CDEventsActivities } from '../activities/cdevents-emission';
import type { ReplicaSetSummary, RolloutActivities } from '../activities/rollout-activities';
import type { RolloutCDEventInput, RolloutCDEventKind } from '../cdevents/rollout-event';
import type { WorkflowHandoffActivities } from '../activities/workflow-handoff';
import { formatDuration, parsePauseDuration } from '../schemas/duration';
import type { AnalysisRunStatus, RolloutAnalysis } from '../schemas/analysis';
import type { CanaryStep, RolloutPhase, TrafficWeights } from '../schemas/rollout';
import { analysisRun, type AnalysisCarryOver } from './analysis-run';
import { canaryReplicasFor, describeStep } from './canary-plan';
import {
  continueRolloutAsNew,
  continuedRunHeading,
  CONTINUE_AS_NEW,
  historyTooLong,
  LAST_MOMENT_TO_CONTINUE,
  settleBeforeContinuing,
  type BackgroundCarryOver,
  type QuietPoint,
  type RolloutContinuation,
} from './continue-as-new';
import {
  abortSignal,
  abortUpdate,
  analysisHoldSignal,
  concludeAnalysisSignal,
  handOverAnalysisSignal,
  promoteSignal,
  promoteUpdate,
  resizeSignal,
  retrySignal,
  retryUpdate,
  statusQuery,
  supersedeSignal,
  type AbortRequest,
  type AnalysisKind,
  type CanaryRolloutInput,
  type PromoteRequest,
  type PendingScaleDown,
  type RetryRequest,
  type RolloutState,
} from './rollout-api';
import { RolloutPhaseKey } from './search-attributes';

/** Activity failures no retry can mend; each ends the current attempt of the rollout at once. */
const PERMANENT_FAILURES = [
  'RolloutGone',
  'RevisionSuperseded',
  'ProgressDeadlineExceeded',
  'InvalidConfiguration',
];

/** Failures that name themselves as the reason of the Degraded Event they cause. */
const EVENT_REASONS = [
  'AnalysisFailed',
  'ProgressDeadlineExceeded',
  'TrafficRouteMissing',
  'TrafficRouteMisconfigured',
];

const cluster = proxyActivities<RolloutActivities>({
  startToCloseTimeout: '1 minute',
  retry: {
    initialInterval: '1 second',
    maximumInterval: '30 seconds',
    nonRetryableErrorTypes: PERMANENT_FAILURES,
  },
});

// Waiting for pods can take as long as the progress deadline; the heartbeat tells a dead worker apart.
const readiness = proxyActivities<RolloutActivities>({
  startToCloseTimeout: '1 day',
  heartbeatTimeout: '20 seconds',
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry: {
    initialInterval: '1 second',
    maximumInterval: '10 seconds',
    nonRetryableErrorTypes: PERMANENT_FAILURES,
  },
});

// The traffic guard's watch, and its wait for the canary's pods to be Ready again, only read: a weight
// change stops them without waiting for them to hear so (which takes until their next heartbeat).
const guards = proxyActivities<RolloutActivities>({
  startToCloseTimeout: '1 day',
  heartbeatTimeout: '20 seconds',
  cancellationType: ActivityCancellationType.TRY_CANCEL,
  retry: {
    initialInterval: '1 second',
    maximumInterval: '10 seconds',
    nonRetryableErrorTypes: PERMANENT_FAILURES,
  },
});

const analyses = proxyActivities<AnalysisActivities>({
  startToCloseTimeout: '1 minute',
  retry: {
    initialInterval: '1 second',
    maximumInterval: '30 seconds',
    nonRetryableErrorTypes: PERMANENT_FAILURES,
  },
});

// The activity retries the sink itself for a bounded time and reports a loss instead of failing;
// Temporal only retries it after a worker crash, and the event id stays the same.
const announcements = proxyActivities<CDEventsActivities>({
  startToCloseTimeout: '10 minutes',
  // An attempt lasts at most 5 s and the activity beats between attempts; a dead worker's emission
  // is soon taken over, since the rollout's last word waits for it.
  heartbeatTimeout: '10 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '10 seconds', maximumAttempts: 10 },
});

/** Patch ID: a weight change on pods already asked for checks their readiness in the route write. */
const ROUTE_WRITE_CHECKS_CANARY = 'route-write-checks-canary';

/** Patch ID: the steps done, a background analysis must succeed once more before promotion. */
const CONCLUDE_BACKGROUND_ANALYSIS = 'conclude-background-analysis';

/**
 * Patch ID: while the canary has traffic, a guard moves it back to stable the moment none of the
 * canary's pods is Ready, and gives it back once they are.
 */
const GUARD_CANARY_TRAFFIC = 'guard-canary-traffic';

/**
 * Patch ID: the canary is scaled to full size while abort is still possible, so any failure before
 * the stable Service moves to it (a quota, a lack of capacity, a first revision that never becomes
 * Ready) takes the abort path instead of failing the workflow on a split.
 */
const FILL_BEFORE_FLIP = 'fill-canary-before-flip';

/**
 * Patch ID: going back to stable is best-effort per part (Services, route, canary pods), and what
 * could not be restored is said in the Degraded message; a promotion that fails before the route is
 * on the new stable goes back to stable too. Something the cluster did never fails the workflow.
 */
const SAFE_RETURN_TO_STABLE = 'safe-return-to-stable';

/** Patch ID: a newer revision that arrived while this one waited for its predecessor is honoured first. */
const SUPERSEDED_BEFORE_START = 'superseded-before-start';

/**
 * Patch ID: a wait for pods only reads, so an abort leaves it at once instead of waiting for the
 * activity to hear of it at its next heartbeat, and the traffic moves within the second.
 */
const PROMPT_ABORT = 'prompt-abort';

/**
 * Patch ID: pods that traffic leaves (the canary's on an abort or supersede, the old stable's after a
 * promotion) keep running for their delay even when a newer revision comes, which then scales them
 * down when their time is up: a gateway applies new weights a little later than they are written.
 */
const DELAYED_SCALE_DOWN = 'delayed-scale-down';

/** Patch ID: a promote acts on the pause or hold current when it arrives, never on a later one. */
const PROMOTE_ACTS_ON_CURRENT_GATE = 'promote-acts-on-current-gate';

/**
 * Patch ID: a change of spec.replicas (kubectl scale, an autoscaler) resizes the stable pods and the
 * canary's share of them where the rollout is, without a new revision.
 */
const RESIZE_WITHOUT_REVISION = 'resize-without-revision';

/** Patch ID: the guard also watches the routes, and weights someone else set there are set back. */
const KEEP_ROUTE_WEIGHTS = 'keep-route-weights';

const handoff = proxyActivities<WorkflowHandoffActivities>({
  startToCloseTimeout: '1 day',
  heartbeatTimeout: '20 seconds',
});

/** Why the steps stopped before the end. */
type Interruption =
  { kind: 'abort'; reason: string; eventReason?: string } | { kind: 'supersede'; revision: number };

/**
 * One revision of a Rollout, rolled out as a canary: for each step, set the canary's weight (its pods
 * Ready before any traffic reaches them) or pause; then promote the canary to stable. An abort sends
 * traffic back to stable and waits for a retry; a newer revision makes this one stand down.
 */
export async function canaryRollout(input: CanaryRolloutInput): Promise<RolloutState> {
  const { rollout, revision, templateHash, canary } = input;
  /** spec.replicas, as the bridge last said: the stable's size, and what the canary's share is of. */
  let replicas = input.replicas;
  /** Counts the resizes asked for, so a wait for pods can tell that its count is out of date. */
  let resizes = 0;
  const steps = canary.steps;
  const state: RolloutState = {
    phase: 'Pending',
    revision,
    templateHash,
    stableTemplateHash: input.stableTemplateHash,
    currentStepIndex: 0,
    stepCount: steps.length,
    weights: { stable: 100, canary: 0 },
    paused: false,
    message: '',
  };
  let promotion: PromoteRequest | undefined;
  /** Who promoted last, for the Healthy message: a promote is consumed by its pause, the credit is not. */
  let promotedBy: string | undefined;
  let interruption: Interruption | undefined;
  /** The analysis that failed, written to the status with the Degraded phase it causes. */
  let failedAnalysis: { kind: AnalysisKind; verdict: AnalysisRunStatus } | undefined;
  let retryRequested = false;
  let stepsScope: CancellationScope | undefined;
  /** Once the canary is becoming stable there is no abort: traffic is already on its way to it. */
  let promoting = false;
  /** Analyses holding the rollout on inconclusive data, with why; a promote lets it go on regardless. */
  const holds = new Map<AnalysisKind, string>();
  /** What a pause step says while it waits, to say again when a hold during it is lifted. */
  let pauseMessage = '';
  /** Counts the tries of this revision (a retry after an abort is the next), so analyses get fresh IDs. */
  let attempt = 1;
  const label = `${rollout.namespace}/${rollout.name} r${revision}`;
  /** Whether this run may continue as new when its history grows long (continue-as-new.ts). */
  const mayContinueAsNew = patched(CONTINUE_AS_NEW);
  /** Where the run before this one left off, until the steps take it up. */
  let resuming: RolloutContinuation | undefined = input.continued;
  if (resuming) {
    // Before any handler is set: a command that came while the run before continued as new is
    // delivered as this run starts, and must be judged against the state that run left.
    Object.assign(state, resuming.state);
    promotion = resuming.promotion;
    promotedBy = resuming.promotedBy;
    for (const [kind, why] of resuming.holds) holds.set(kind, why);
    pauseMessage = resuming.pauseMessage;
    attempt = resuming.attempt;
  }

  // --- commands -------------------------------------------------------------------------------------
  const refusePromote = (request: PromoteRequest = {}) => {
    if (interruption || !['Progressing', 'Paused'].includes(state.phase)) {
      throw new Error(`nothing to promote: ${label} is ${state.phase}`);
    }
    if (promoting) throw new Error(`nothing to promote: ${label} is already being promoted to stable`);
    if (!request.full && !state.paused) {
      throw new Error(`nothing to promote: ${label} is not paused; use full`);
    }
  };
  const promote = (request: PromoteRequest = {}) => {
    promotion = { full: request.full || promotion?.full, by: request.by };
    promotedBy = request.by ?? promotedBy;
    log.info('promote requested', { rollout: label, ...request });
  };
  const refuseAbort = (_request?: AbortRequest) => {
    if (interruption || !['Progressing', 'Paused'].includes(state.phase)) {
      throw new Error(`nothing to abort: ${label} is ${state.phase}`);
    }
    if (promoting) throw new Error(`too late to abort: ${label} is being promoted to stable`);
  };
  const abort = (request: AbortRequest = {}) => {
    const reason = `aborted${request.by ? ` by ${request.by}` : ''}${request.reason ? `: ${request.reason}` : ''}`;
    interrupt({ kind: 'abort', reason });
  };
  const refuseRetry = (_request?: RetryRequest) => {
    if (state.phase !== 'Degraded' || interruption?.kind === 'supersede') {
      throw new Error(`nothing to retry: ${label} is ${state.phase}`);
    }
  };
  const interrupt = (reason: Interruption) => {
    if (interruption?.kind === 'supersede') return;
    interruption = reason;
    stepsScope?.cancel();
  };

  setHandler(promoteSignal, (request) => {
    try {
      refusePromote(request);
      promote(request);
    } catch (refusal) {
      log.warn('promote signal ignored', { rollout: label, reason: String(refusal) });
    }
  });
  setHandler(abortSignal, (request) => {
    try {
      refuseAbort(request);
      abort(request);
    } catch (refusal) {
      log.warn('abort signal ignored', { rollout: label, reason: String(refusal) });
    }
  });
  setHandler(retrySignal, () => {
    if (state.phase === 'Degraded') retryRequested = true;
  });
  setHandler(supersedeSignal, ({ revision: newer }) => interrupt({ kind: 'supersede', revision: newer }));
  setHandler(resizeSignal, ({ replicas: wanted }) => {
    if (wanted === replicas || !Number.isInteger(wanted) || wanted < 0) return;
    log.info('resize requested', { rollout: label, from: replicas, to: wanted });
    replicas = wanted;
    resizes++;
  });
  setHandler(analysisHoldSignal, ({ kind, held, message }) => {
    if (interruption || !['Progressing', 'Paused'].includes(state.phase)) return;
    if (held) {
      holds.set(kind, `${kind} analysis inconclusive: ${message}; promote to go on, or abort`);
      state.paused = true;
      enterPhase('Paused', holds.get(kind) ?? '');
    } else if (holds.delete(kind) && holds.size === 0) {
      state.paused = pausing;
      // A promote that came for the hold ends with it: it must not skip a later pause or the final check.
      if (!pausing && promotion && !promotion.full && patched(PROMOTE_ACTS_ON_CURRENT_GATE)) {
        promotion = undefined;
      }
      if (pausing) enterPhase('Paused', pauseMessage);
      else {
        enterPhase(
          'Progressing',
          `step ${state.currentStepIndex + 1}/${steps.length}: ${kind} analysis conclusive again`,
        );
      }
    }
  });
  setHandler(
    promoteUpdate,
    (request) => {
      promote(request);
      return state;
    },
    { validator: refusePromote },
  );
  setHandler(
    abortUpdate,
    (request) => {
      abort(request);
      return state;
    },
    { validator: refuseAbort },
  );
  setHandler(
    retryUpdate,
    () => {
      retryRequested = true;
      return state;
    },
    { validator: refuseRetry },
  );
  setHandler(statusQuery, () => state);

  // --- the rollout log: every change lands in status, search attributes and UI details -------------
  // Status writes run in order behind the rollout and never hold it up; each carries the state of its
  // moment. They cannot be cancelled, and the workflow waits for them before it ends, so a superseded
  // revision's last write always lands before its successor's first.
  let statusWrites: Promise<void> = Promise.resolve();
  /**
   * The Event is a Warning for a Degraded rollout, unless `eventType` says which; it says the phase's
   * message unless given one of its own.
   */
  function publishStatus(
    eventReason?: string,
    eventType?: 'Normal' | 'Warning',
    eventMessage?: string,
  ): void {
    const { phase, message } = state;
    const status = {
      phase,
      message,
      replicas,
      currentStepIndex: state.currentStepIndex,
      stepCount: state.stepCount,
      weights: state.weights,
      stableTemplateHash: state.stableTemplateHash,
      ...(phase === 'Degraded' && failedAnalysis
        ? { analysis: { [failedAnalysis.kind]: failedAnalysis.verdict } }
        : {}),
    };
    const condition = {
      type: 'Progressing',
      status: phase === 'Progressing' || phase === 'Paused' ? ('True' as const) : ('False' as const),
      reason: eventReason ?? phase,
      message,
    };
    statusWrites = statusWrites.then(() =>
      CancellationScope.nonCancellable(async () => {
        try {
          await cluster.writeRolloutStatus.executeWithOptions({ summary: `status ${phase}: ${message}` }, [
            { rollout, revision, status, condition },
          ]);
          if (eventReason) {
            const type = eventType ?? (phase === 'Degraded' ? 'Warning' : 'Normal');
            await cluster.recordRolloutEvent.executeWithOptions({ summary: `event ${eventReason}` }, [
              { rollout, type, reason: eventReason, message: `r${revision}: ${eventMessage ?? message}` },
            ]);
          }
        } catch (error) {
          log.warn('could not write the Rollout status', { rollout: label, phase, error: String(error) });
        }
      }),
    );
  }

  // CDEvents go out in order behind the rollout, like status writes: a slow or absent sink never holds
  // it up, and the workflow waits for them before it ends.
  let announcementsSent: Promise<void> = Promise.resolve();
  let announcementCount = 0;
  function announce(kind: RolloutCDEventKind, reason?: string): void {
    const event: RolloutCDEventInput = {
      kind,
      rollout: { namespace: rollout.namespace, name: rollout.name },
      revision,
      workflowId: workflowInfo().workflowId,
      runId: workflowInfo().runId,
      sequence: ++announcementCount,
      stepIndex: state.currentStepIndex,
      weights: state.weights,
      images: input.images ?? [],
      occurredAt: new Date().toISOString(),
      ...(reason ? { reason } : {}),
    };
    announcementsSent = announcementsSent.then(() =>
      CancellationScope.nonCancellable(async () => {
        try {
          await announcements.emitCDEvent.executeWithOptions(
            { summary: `CDEvent service.${kind} #${event.sequence}` },
            [event],
          );
        } catch (error) {
          log.warn('could not emit a CDEvent', { rollout: label, kind, error: String(error) });
        }
      }),
    );
  }

  function enterPhase(phase: RolloutPhase, message: string, eventReason?: string): void {
    state.phase = phase;
    state.message = message;
    upsertSearchAttributes([{ key: RolloutPhaseKey, value: phase }]);
    showDetails();
    publishStatus(eventReason);
  }

  const continuedHeading = continuedRunHeading(input);
  function showDetails(): void {
    const marks = steps.map((step, index) => {
      const mark = index < state.currentStepIndex ? '✓' : index === state.currentStepIndex ? '▶' : ' ';
      return `${mark} ${index + 1}. ${describeStep(step)}`;
    });
    setCurrentDetails(
      [
        ...(continuedHeading === undefined ? [] : [continuedHeading]),
        `**${state.phase}** — ${state.message}`,
        `weights: stable ${state.weights.stable}% / canary ${state.weights.canary}%`,
        ...marks,
      ].join('\n\n'),
    );
  }

  // --- moving pods and traffic ----------------------------------------------------------------------
  /** Canary pods last asked for; a step that needs no more skips straight to checking they are Ready. */
  let canaryScale: number | undefined;
  /** The traffic share the canary's pods are sized for: 100 once it is filled to become stable. */
  let canaryShare = 0;
  /** True while the steps scale the canary and wait for it: they size it to a resize themselves. */
  let canaryScaling = false;
  /** True while a resize scales the canary between steps: the next step waits for it. */
  let resizingCanary = false;

  /** The canary's pods for `share`% of spec.replicas, all Ready; a resize meanwhile sizes them anew. */
  async function scaleCanaryAndWait(share: number): Promise<void> {
    const resizable = patched(RESIZE_WITHOUT_REVISION);
    if (resizingCanary) await condition(() => !resizingCanary);
    canaryShare = share;
    canaryScaling = true;
    try {
      for (;;) {
        const seen = resizes;
        const canaryReplicas = canaryReplicasFor(replicas, share);
        if (canaryReplicas !== canaryScale) {
          // The guard stands down while the canary is scaled, and guards its traffic during the wait.
          const release = guard ? await guard.standDown() : undefined;
          try {
            await cluster.ensureReplicaSet.executeWithOptions(
              { summary: `scale canary to ${canaryReplicas} pods` },
              [{ rollout, revision, templateHash, replicas: canaryReplicas }],
            );
            canaryScale = canaryReplicas;
          } finally {
            release?.();
          }
        }
        const wait = () => waitForCanaryPods(canaryReplicas, `wait for ${canaryReplicas} canary pods Ready`);
        if (!resizable) return void (await wait());
        if (await waitUnlessResized(seen, wait)) return;
      }
    } finally {
      canaryScaling = false;
    }
  }

  /** Runs a wait for pods; false, with the wait stopped, once a resize has made its count out of date. */
  async function waitUnlessResized(seen: number, wait: () => Promise<unknown>): Promise<boolean> {
    if (resizes !== seen) return false;
    const scope = new CancellationScope();
    let settled = false;
    let failure: unknown;
    const waiting = scope.run(wait).then(
      () => void (settled = true),
      (error: unknown) => {
        settled = true;
        failure = error;
      },
    );
    await condition(() => settled || resizes !== seen);
    if (!settled) {
      scope.cancel();
      await waiting;
      return false;
    }
    if (failure !== undefined) throw failure;
    return true;
  }

  function waitForCanaryPods(
    canaryReplicas: number,
    summary: string,
    activities = patched(PROMPT_ABORT) ? guards : readiness,
  ): Promise<ReplicaSetSummary> {
    return activities.waitForReplicaSetAvailable.executeWithOptions({ summary }, [
      { rollout, templateHash, replicas: canaryReplicas, deadlineSeconds: input.progressDeadlineSeconds },
    ]);
  }

  /**
   * `publish` is off where the phase that follows says it all: an abort, a stand-down, a cancellation.
   * With `availableCanary` the weights move only if the canary has those pods available.
   */
  async function routeTraffic(
    weights: TrafficWeights,
    summary: string,
    publish = true,
    availableCanary?: { templateHash: string; replicas: number },
  ): Promise<void> {
    // The guard stands down first: the route has one writer at a time.
    const release = guard ? await guard.standDown() : undefined;
    try {
      await servicesPointed;
      await writeWeights(weights, summary, availableCanary);
      state.weights = weights;
    } finally {
      release?.();
    }
    showDetails();
    if (publish) publishStatus();
  }

  /** The route write alone; routeTraffic, or the guard itself, makes sure the guard is not writing too. */
  function writeWeights(
    weights: TrafficWeights,
    summary: string,
    availableCanary?: { templateHash: string; replicas: number },
  ): Promise<void> {
    return cluster.setTrafficWeights.executeWithOptions({ summary }, [
      {
        rollout,
        trafficRouting: canary.trafficRouting,
        stableService: canary.stableService,
        canaryService: canary.canaryService,
        weights,
        ...(availableCanary ? { availableCanary } : {}),
      },
    ]);
  }

  /** Pods before traffic on the way up, traffic before pods on the way down: nothing unready is served. */
  async function setWeight(weight: number): Promise<void> {
    const canaryReplicas = canaryReplicasFor(replicas, weight);
    const weights = { stable: 100 - weight, canary: weight };
    canaryShare = weight;
    if (weight >= state.weights.canary) {
      // The pods are there already (a promote from a pause, say): the route write checks they are
      // still Ready itself, one round trip instead of two; if they are not, wait for them as usual.
      const checkedByTheWrite =
        canaryReplicas === canaryScale &&
        patched(ROUTE_WRITE_CHECKS_CANARY) &&
        (await routeTraffic(weights, `set weight ${weight}%`, true, {
          templateHash,
          replicas: canaryReplicas,
        }).then(
          () => true,
          (error: unknown) => {
            if (failureType(error) !== 'CanaryNotAvailable') throw error;
            return false;
          },
        ));
      if (!checkedByTheWrite) {
        await scaleCanaryAndWait(weight);
        await routeTraffic(weights, `set weight ${weight}%`);
      }
      announce('upgraded');
    } else {
      await routeTraffic(weights, `set weight ${weight}%`);
      announce('upgraded');
      await scaleCanaryAndWait(weight);
    }
  }

  // --- guarding the canary's traffic ----------------------------------------------------------------
  interface CanaryTrafficGuard {
    /** Stops the guard and waits until it has; it guards again once the returned release is called. */
    standDown(): Promise<() => void>;
    /** Stops it for good, and waits until it has. */
    stop(): Promise<void>;
  }
  /** Guards the canary's traffic while the steps run (with the patch); absent otherwise. */
  let guard: CanaryTrafficGuard | undefined;

  /**
   * A data plane sends a weighted backend its share even when none of its endpoints is Ready, so while
   * the canary has traffic, a guard activity watches its pods and, the moment none is Ready, the guard
   * moves that traffic to stable; it then waits for the pods and gives the weights back. It stands down
   * whenever the workflow sets weights or scales the canary, and the change waits for any write of the
   * guard's own under way, so the two never write at once. Its own failure (the pods not back within
   * the progress deadline) aborts the steps.
   */
  function startCanaryTrafficGuard(): CanaryTrafficGuard {
    const scope = new CancellationScope();
    let standingDown = 0;
    let stopping = false;
    /** The watch under way, and its recovery if it tripped: what a stand-down cancels and waits for. */
    let turn: { scope: CancellationScope; ended: Promise<void> } | undefined;
    const mayGuard = () => standingDown === 0 && state.weights.canary > 0 && (canaryScale ?? 0) > 0;

    const guarding = scope.run(async () => {
      for (;;) {
        await condition(mayGuard);
        // A stand-down may have begun between the condition holding and this continuation.
        if (!mayGuard()) continue;
        const turnScope = new CancellationScope();
        const guarded = turnScope.run(() => guardOnce({ ...state.weights }));
        turn = { scope: turnScope, ended: guarded.catch(() => undefined) };
        try {
          await guarded;
        } catch (error) {
          // Stood down (or stopped: then the next condition throws the cancellation).
          if (!(isCancellation(error) && turnScope.consideredCancelled)) throw error;
        } finally {
          turn = undefined;
        }
      }
    });
    guarding.catch((error: unknown) => {
      if (stopping || isCancellation(error)) return;
      interrupt({ kind: 'abort', reason: failureMessage(error) });
    });

    return {
      async standDown() {
        standingDown++;
        if (turn) {
          turn.scope.cancel();
          await turn.ended;
        }
        let released = false;
        return () => {
          if (!released) standingDown--;
          released = true;
        };
      },
      async stop() {
        stopping = true;
        scope.cancel();
        await guarding.catch(() => undefined);
      },
    };
  }

  /**
   * True from the moment the guard trips (the canary's pods unready, or the weights changed by someone
   * else) until the weights are back.
   */
  let canaryTrafficMoved = false;
  /** One watch of the canary at `weights`; if it trips, the traffic stays on stable until its pods are back. */
  async function guardOnce(weights: TrafficWeights): Promise<void> {
    const route = patched(KEEP_ROUTE_WEIGHTS)
      ? {
          rollout,
          trafficRouting: canary.trafficRouting,
          stableService: canary.stableService,
          canaryService: canary.canaryService,
          weights,
        }
      : undefined;
    const tripped = await guards.guardCanaryTraffic.executeWithOptions(
      { summary: `guard canary traffic at ${weights.canary}%` },
      [{ rollout, templateHash, ...(route ? { route } : {}) }],
    );
    // The route is written now and until the weights are back: no continue-as-new meanwhile.
    canaryTrafficMoved = true;
    if (tripped.drift) {
      try {
        return await putWeightsBack(weights, tripped.message);
      } finally {
        canaryTrafficMoved = false;
      }
    }
    // A stand-down waits for this write rather than racing it.
    await CancellationScope.nonCancellable(() =>
      writeWeights({ stable: 100, canary: 0 }, 'canary pods not Ready: set weight 0%'),
    );
    // The change that follows must know the canary has none, so it waits for pods before giving it any.
    state.weights = { stable: 100, canary: 0 };
    const said = state.message;
    const step = Math.min(state.currentStepIndex + 1, steps.length);
    const unready = `step ${step}/${steps.length}: canary pods not Ready: traffic moved back to stable, waiting for them (${tripped.message})`;
    state.message = unready;
    log.warn('canary unready: traffic moved back to stable', { rollout: label, ...tripped });
    showDetails();
    publishStatus('CanaryUnready', 'Warning');
    try {
      await bringCanaryTrafficBack(weights);
    } finally {
      canaryTrafficMoved = false;
      // What the rollout said before, unless it has said something since.
      if (state.message === unready) state.message = said;
    }
    showDetails();
    publishStatus();
  }

  /** Someone else changed the weights (a GitOps sync of an older manifest): they are set back at once. */
  async function putWeightsBack(weights: TrafficWeights, changed: string): Promise<void> {
    // A stand-down waits for this write rather than racing it.
    await CancellationScope.nonCancellable(async () => {
      await servicesPointed;
      await writeWeights(weights, `weights changed by someone else: set back to ${weights.canary}%`);
    });
    log.warn('route weights changed under the rollout: set back', { rollout: label, changed });
    publishStatus(
      'TrafficWeightsRestored',
      'Warning',
      `${changed}; Siirto set them back to stable ${weights.stable}% / canary ${weights.canary}%. Leave these ` +
        "weights out of what that tool applies (Argo CD: ignoreDifferences on the HTTPRoute's /spec/rules), " +
        'or the two keep undoing each other',
    );
  }

  /** Waits (within the progress deadline) for the canary's pods, then gives them back their weights. */
  async function bringCanaryTrafficBack(weights: TrafficWeights): Promise<void> {
    const pods = canaryScale ?? 0;
    for (;;) {
      await waitForCanaryPods(pods, `wait for ${pods} canary pods Ready again`, guards);
      // A stand-down waits for this write rather than racing it.
      const back = await CancellationScope.nonCancellable(async () => {
        await servicesPointed;
        await writeWeights(weights, `canary Ready again: set weight ${weights.canary}%`, {
          templateHash,
          replicas: pods,
        });
      }).then(
        () => true,
        (error: unknown) => {
          // Unready again since the wait: wait again.
          if (failureType(error) !== 'CanaryNotAvailable') throw error;
          return false;
        },
      );
      if (back) {
        state.weights = weights;
        return;
      }
    }
  }

  /** True during a pause step, as opposed to a hold by an analysis. */
  let pausing = false;
  /** `resumed`: the run before this one continued as new in this pause; its state says the rest. */
  async function pause(step: { duration?: string | number }, resumed = false): Promise<void> {
    const milliseconds = step.duration === undefined ? undefined : parsePauseDuration(step.duration);
    if (step.duration !== undefined && milliseconds === undefined) {
      throw ApplicationFailure.nonRetryable(
        `pause duration "${step.duration}" is not a duration`,
        'InvalidConfiguration',
      );
    }
    pausing = true;
    state.paused = true;
    if (!resumed) {
      // Workflow time, so replays agree: the CLI shows how long the pause has left.
      if (milliseconds !== undefined) state.pauseEndsAt = new Date(Date.now() + milliseconds).toISOString();
      const until =
        milliseconds === undefined ? 'until promoted' : `${formatDuration(milliseconds)} or until promoted`;
      pauseMessage = `step ${state.currentStepIndex + 1}/${steps.length}: paused ${until}`;
      enterPhase('Paused', pauseMessage);
    }
    const promoted = () => promotion !== undefined;
    if (mayContinueAsNew) {
      // A timed pause ends at the deadline it was given, however many runs it spans.
      const endsAt = state.pauseEndsAt === undefined ? undefined : Date.parse(state.pauseEndsAt);
      const summary = (left: number) =>
        milliseconds === undefined || left === milliseconds
          ? `pause ${formatDuration(left)}`
          : `pause ${formatDuration(milliseconds)}: ${formatDuration(left)} left`;
      await waitQuietly(promoted, 'pause', endsAt, summary);
    } else if (milliseconds === undefined) {
      await condition(promoted);
    } else {
      await condition(promoted, milliseconds, { summary: `pause ${formatDuration(milliseconds)}` });
    }
    pausing = false;
    state.paused = holds.size > 0;
    state.pauseEndsAt = undefined;
    if (promotion && !promotion.full) promotion = undefined;
    // An analysis that began holding during the pause goes on holding after it.
    const [hold] = holds.values();
    if (hold !== undefined) enterPhase('Paused', hold);
    else enterPhase('Progressing', `step ${state.currentStepIndex + 1}/${steps.length}: pause over`);
  }

  async function runStep(step: CanaryStep, resumedInPause = false): Promise<void> {
    // A pause says so itself at once; the others may wait on pods or measurements first.
    if (!step.pause) {
      state.message = `step ${state.currentStepIndex + 1}/${steps.length}: ${describeStep(step)}`;
      showDetails();
      publishStatus();
    }
    if (step.setWeight !== undefined) await setWeight(step.setWeight);
    else if (step.pause) await pause(step.pause, resumedInPause);
    else if (step.analysis) await analyseStep(step.analysis);
  }

  // --- analysis -------------------------------------------------------------------------------------
  interface RunningAnalysis {
    /** Settles with the verdict, or rejects (cancelled, or the analysis could not run at all). */
    verdict: Promise<AnalysisRunStatus>;
    /** True once the verdict is in and Successful. */
    succeeded(): boolean;
    /** Asks a background analysis for its verdict: the steps are done. */
    conclude(): Promise<void>;
    /**
     * Asks it to stop and say where it stands, for the next run to go on from; undefined when it
     * could not say (it was cancelled, or could not run: what that means is handled as always).
     */
    handOver(): Promise<BackgroundCarryOver | undefined>;
    cancel(): void;
  }

  /**
   * Resolves an analysis's templates and runs it as a child workflow, in a scope of its own; `resumed`
   * is one that goes on from another's tallies after the rollout continued as new, under a new ID.
   */
  function startAnalysis(
    analysis: RolloutAnalysis,
    kind: AnalysisKind,
    field: string,
    resumed?: { carriedOver: AnalysisCarryOver; handover: number },
  ): RunningAnalysis {
    const scope = new CancellationScope();
    const stepIndex = kind === 'step' ? state.currentStepIndex : undefined;
    let child: ChildWorkflowHandle<typeof analysisRun> | undefined;
    let settled = false;
    let succeeded = false;
    const verdict = scope.run(async () => {
      const metrics = await analyses.resolveAnalysis.executeWithOptions(
        { summary: `resolve ${kind} analysis` },
        [
          {
            rollout,
            analysis,
            field,
            mode: kind,
            context: {
              namespace: rollout.namespace,
              rollout: rollout.name,
              canaryHash: templateHash,
              stableHash: state.stableTemplateHash ?? templateHash,
              canaryService: canary.canaryService,
              stableService: canary.stableService,
            },
          },
        ],
      );
      const which = stepIndex === undefined ? 'background' : `step-${stepIndex + 1}`;
      const handover = resumed ? `/h${resumed.handover}` : '';
      const carriedOver = resumed ? { carriedOver: resumed.carriedOver } : {};
      child = await startChild(analysisRun, {
        workflowId: `${workflowInfo().workflowId}/analysis/${which}/a${attempt}${handover}`,
        args: [
          {
            rollout,
            revision,
            kind,
            stepIndex,
            metrics,
            historyLimit: input.analysisHistoryLimit,
            ...carriedOver,
          },
        ],
        staticSummary: `${label}: ${kind} analysis of ${metrics.map((metric) => metric.name).join(', ')}`,
      });
      return child.result();
    });
    verdict.then(
      (outcome) => {
        settled = true;
        succeeded = outcome.phase === 'Successful';
      },
      () => (settled = true),
    );
    return {
      verdict,
      succeeded: () => succeeded,
      async conclude() {
        await condition(() => child !== undefined || settled);
        // An analysis that has just ended needs no word; its verdict speaks for it.
        if (!settled) await child?.signal(concludeAnalysisSignal).catch(() => undefined);
      },
      async handOver() {
        await condition(() => child !== undefined || settled);
        if (!settled) await child?.signal(handOverAnalysisSignal).catch(() => undefined);
        const outcome = await verdict.catch(() => undefined);
        if (!outcome) return undefined;
        return outcome.handedOver ? { carriedOver: outcome.handedOver } : { verdict: outcome };
      },
      cancel: () => scope.cancel(),
    };
  }

  /** An analysis whose verdict came in an earlier run. */
  function concludedAnalysis(verdict: AnalysisRunStatus): RunningAnalysis {
    const succeeded = verdict.phase === 'Successful';
    return {
      verdict: Promise.resolve(verdict),
      succeeded: () => succeeded,
      conclude: () => Promise.resolve(),
      handOver: () => Promise.resolve({ verdict }),
      cancel: () => undefined,
    };
  }

  /** The analysis failed: as an abort, with the failing metric, its value and condition. */
  function analysisFailure(verdict: AnalysisRunStatus): ApplicationFailure {
    return ApplicationFailure.nonRetryable(`analysis failed: ${verdict.message ?? ''}`, 'AnalysisFailed');
  }

  /** Waits for the step's analysis; a promote while it holds on inconclusive data skips the rest of it. */
  async function analyseStep(analysis: RolloutAnalysis): Promise<void> {
    const running = startAnalysis(
      analysis,
      'step',
      `spec.strategy.canary.steps[${state.currentStepIndex}].analysis`,
    );
    let verdict: AnalysisRunStatus | undefined;
    let error: unknown;
    running.verdict.then(
      (settled) => (verdict = settled),
      (failure: unknown) => (error = failure ?? new Error('analysis failed')),
    );
    await condition(
      () =>
        verdict !== undefined ||
        error !== undefined ||
        promotion?.full === true ||
        (holds.has('step') && promotion !== undefined),
    );
    holds.delete('step');
    if (error !== undefined) {
      if (isCancellation(error)) throw error;
      throw ApplicationFailure.nonRetryable(
        `step analysis could not run: ${failureMessage(error)}`,
        'AnalysisFailed',
      );
    }
    if (!verdict) {
      running.cancel();
      goOnPastAnalysis();
      return;
    }
    if (verdict.phase === 'Failed') {
      failedAnalysis = { kind: 'step', verdict };
      throw analysisFailure(verdict);
    }
  }

  let background: RunningAnalysis | undefined;
  /** Starts the background analysis once the steps reach its starting step; a failure aborts them. */
  function startBackgroundAnalysisFrom(stepIndex: number): void {
    const analysis = canary.analysis;
    if (!analysis || background || stepIndex < analysis.startingStep) return;
    watchBackgroundAnalysis(startAnalysis(analysis, 'background', 'spec.strategy.canary.analysis'));
  }

  /** Background analyses handed over from one run to the next, so each new one has an ID of its own. */
  let handovers = 0;
  /** The background analysis as the run before left it (continue-as-new.ts). */
  function resumeBackgroundAnalysis(carried: BackgroundCarryOver): void {
    const analysis = canary.analysis;
    if (!analysis) return;
    if ('verdict' in carried) {
      background = concludedAnalysis(carried.verdict);
      return;
    }
    handovers++;
    watchBackgroundAnalysis(
      startAnalysis(analysis, 'background', 'spec.strategy.canary.analysis', {
        carriedOver: carried.carriedOver,
        handover: handovers,
      }),
    );
  }

  function watchBackgroundAnalysis(running: RunningAnalysis): void {
    background = running;
    running.verdict.then(
      (verdict) => {
        if (verdict.phase !== 'Failed') return;
        failedAnalysis = { kind: 'background', verdict };
        interrupt({ kind: 'abort', reason: analysisFailure(verdict).message, eventReason: 'AnalysisFailed' });
      },
      (error: unknown) => {
        if (isCancellation(error)) return;
        interrupt({ kind: 'abort', reason: `background analysis could not run: ${failureMessage(error)}` });
      },
    );
  }

  /**
   * The steps are done: a background analysis must have seen the canary do well before it is promoted,
   * however short the steps were against its delay and interval. A failure aborts as at any time; a
   * person may promote past the wait.
   */
  async function concludeBackgroundAnalysis(): Promise<void> {
    const running = background;
    if (running && !promotion?.full && patched(CONCLUDE_BACKGROUND_ANALYSIS)) {
      if (holds.size === 0) {
        state.message = `step ${steps.length}/${steps.length} done: waiting for the background analysis to succeed`;
        showDetails();
        publishStatus();
      }
      await running.conclude();
      await condition(() => running.succeeded() || promotion !== undefined);
      if (!running.succeeded()) goOnPastAnalysis();
    }
    stopBackgroundAnalysis();
  }

  function stopBackgroundAnalysis(): void {
    background?.cancel();
    background = undefined;
    holds.delete('background');
  }

  /** Between steps: no step starts while an analysis holds, unless a person promotes past it. */
  async function waitWhileHeld(): Promise<void> {
    if (holds.size === 0) return;
    const released = () => holds.size === 0 || promotion !== undefined;
    if (mayContinueAsNew) await waitQuietly(released, 'hold');
    else await condition(released);
    if (holds.size === 0) return;
    stopBackgroundAnalysis();
    holds.clear();
    goOnPastAnalysis();
  }

  /** A person promoted while an analysis held the rollout: the promote is spent on the analysis. */
  function goOnPastAnalysis(): void {
    if (!promotion?.full) promotion = undefined;
    state.paused = pausing;
    enterPhase(
      'Progressing',
      `step ${state.currentStepIndex + 1}/${steps.length}: promoted past the analysis`,
    );
  }

  /** Runs the remaining steps; returns what interrupted them, or undefined when they all ran. */
  async function runSteps(): Promise<Interruption | undefined> {
    const guarded = patched(GUARD_CANARY_TRAFFIC);
    stepsScope = new CancellationScope();
    try {
      await stepsScope.run(async () => {
        const resumed = resuming;
        resuming = undefined;
        if (resumed) {
          // The run before started all this and said so; this one goes on where it waited, unless an
          // abort or a newer revision came as it started.
          if (interruption) stepsScope?.cancel();
          showDetails();
          if (resumed.background) resumeBackgroundAnalysis(resumed.background);
        } else {
          enterPhase('Progressing', `step ${state.currentStepIndex + 1}/${steps.length}`, 'RolloutStarted');
          announce('deployed');
          // The Services are pointed while the first canary pods start; traffic waits for both.
          pointServices(state.stableTemplateHash ?? templateHash).catch(() => undefined);
        }
        guard = guarded ? startCanaryTrafficGuard() : undefined;
        let resumedAt: QuietPoint | undefined = resumed?.at;
        try {
          for (const step of steps.slice(state.currentStepIndex)) {
            if (promotion?.full) break;
            // Resumed, this step's background analysis and hold are as the run before left them.
            if (!resumedAt) startBackgroundAnalysisFrom(state.currentStepIndex);
            if (resumedAt !== 'pause') await waitWhileHeld();
            await runStep(step, resumedAt === 'pause');
            resumedAt = undefined;
            state.currentStepIndex++;
          }
          await waitWhileHeld();
          await concludeBackgroundAnalysis();
          // Still abortable, and guarded: the canary gets all its pods before it becomes stable.
          if (patched(FILL_BEFORE_FLIP)) await fillCanary();
        } finally {
          // Promotion and the return to stable move the traffic with no guard left to stand down.
          if (guard) await guard.stop();
          guard = undefined;
        }
      });
      return undefined;
    } catch (error) {
      return interruptionBehind(error);
    } finally {
      stepsScope = undefined;
      background = undefined;
      holds.clear();
    }
  }

  /** What stopped abortable work: an abort or supersede, or a permanent failure handled like an abort. */
  function interruptionBehind(error: unknown): Interruption {
    if (interruption && isCancellation(error)) return interruption;
    const failure = permanentFailure(error);
    if (failure?.type === 'RevisionSuperseded') return { kind: 'supersede', revision: revision + 1 };
    // Any other permanent failure (deadline, missing Service or route) is handled like an abort.
    if (failure) {
      const eventReason = EVENT_REASONS.includes(failure.type ?? '')
        ? (failure.type ?? undefined)
        : undefined;
      return { kind: 'abort', reason: failure.message, eventReason };
    }
    throw error;
  }

  /** Runs work that an abort or supersede may cut short, as the steps are; returns what did. */
  async function abortably(work: () => Promise<void>): Promise<Interruption | undefined> {
    stepsScope = new CancellationScope();
    try {
      await stepsScope.run(work);
      return undefined;
    } catch (error) {
      return interruptionBehind(error);
    } finally {
      stepsScope = undefined;
    }
  }

  /** True once the canary has all its pods Ready, ahead of the flip. */
  let filled = false;
  async function fillCanary(): Promise<void> {
    if (canaryScale !== replicas) {
      state.message = `promoting: scaling the canary to ${replicas} pods before it becomes stable`;
      showDetails();
      publishStatus();
    }
    await scaleCanaryAndWait(100);
    filled = true;
  }

  /** Awaited by every traffic change, so the Services select the right pods before weights move. */
  let servicesPointed: Promise<void> = Promise.resolve();
  function pointServices(stableHash: string): Promise<void> {
    servicesPointed = Promise.all([
      cluster.pointServiceAtRevision.executeWithOptions({ summary: `stable Service → ${stableHash}` }, [
        { rollout, service: canary.stableService, templateHash: stableHash },
      ]),
      cluster.pointServiceAtRevision.executeWithOptions({ summary: `canary Service → ${templateHash}` }, [
        { rollout, service: canary.canaryService, templateHash },
      ]),
    ]).then(() => undefined);
    return servicesPointed;
  }

  /** The canary becomes stable: all its pods Ready, the stable Service on it, then 100/0 on the new stable. */
  async function promoteToStable(): Promise<void> {
    promoting = true;
    const previousStable = state.stableTemplateHash;
    if (!filled) await scaleCanaryAndWait(100);
    await pointServices(templateHash);
    await routeTraffic({ stable: 100, canary: 0 }, 'set weight 100% on new stable');
    state.stableTemplateHash = templateHash;
    state.currentStepIndex = steps.length;
    const by = promotedBy ? ` (promoted by ${promotedBy})` : '';
    enterPhase('Healthy', `r${revision} is stable${by}`, 'RolloutCompleted');
    announce('published');
    if (previousStable && previousStable !== templateHash) {
      const delay = canary.scaleDownDelaySeconds * 1000;
      const keptUntil = Date.now() + delay;
      // A newer revision waits for this workflow to close, so it cuts the delay short.
      await condition(() => interruption?.kind === 'supersede', delay, {
        summary: `keep old stable pods ${formatDuration(delay)}`,
      });
      if (interruption?.kind === 'supersede' && patched(DELAYED_SCALE_DOWN)) {
        // ... and scales them down when their time is up.
        scaleDownLater(previousStable, keptUntil, 'old stable');
        return;
      }
      await cluster.scaleReplicaSet.executeWithOptions(
        { summary: `scale old stable ${previousStable} to 0` },
        [{ rollout, templateHash: previousStable, replicas: 0 }],
      );
      await cluster.pruneOldReplicaSets.executeWithOptions({ summary: 'prune old ReplicaSets' }, [
        { rollout, keepTemplateHashes: [templateHash] },
      ]);
    }
  }

  /**
   * Traffic back to stable first, then the canary's pods go. Each part is tried whatever became of the
   * other (with the patch); returns what could not be restored, for the phase that follows to say.
   */
  async function returnToStable(summary: string, keepCanary = false): Promise<string[]> {
    const problems: string[] = [];
    const toStable = { stable: 100, canary: 0 };
    try {
      await routeTraffic(toStable, summary, false);
    } catch (error) {
      if (!patched(SAFE_RETURN_TO_STABLE)) throw error;
      // The Services may not have been pointed (an abort cut that short): point them, then try again.
      try {
        await pointServices(state.stableTemplateHash ?? templateHash);
        await routeTraffic(toStable, summary, false);
      } catch (again) {
        problems.push(`traffic could not be moved back to stable: ${failureMessage(again)}`);
      }
    }
    if (keepCanary) return problems;
    try {
      await cluster.scaleReplicaSet.executeWithOptions({ summary: 'scale canary to 0' }, [
        { rollout, templateHash, replicas: 0 },
      ]);
      canaryScale = 0;
    } catch (error) {
      if (!patched(SAFE_RETURN_TO_STABLE)) throw error;
      problems.push(`the canary's pods could not be scaled to 0: ${failureMessage(error)}`);
    }
    if (problems.length > 0)
      log.warn('not all of the rollout went back to stable', { rollout: label, problems });
    return problems;
  }

  /** The reason of an abort, and what of the way back to stable could not be done, with the fix. */
  function degradedMessage(reason: string, problems: string[]): string {
    if (problems.length === 0) return reason;
    return `${reason}; then ${problems.join('; ')}`;
  }

  // --- scaling down once the traffic has surely left -------------------------------------------------
  /** ReplicaSets waiting to be scaled to 0, by template hash, with when they may be. */
  const scaleDowns = new Map<string, number>();
  /** Cancelled when this run stands down: the revision after it takes over what is still waiting. */
  const scaleDownScope = new CancellationScope();
  const scalingDown: Promise<void>[] = [];
  /** Scale-downs whose time has come and which are being written now. */
  let scaleDownsUnderWay = 0;
  /** Set when this run stands down for a newer revision, which takes over the scale-downs. */
  let standingDown = false;
  const abortScaleDownDelay = (canary.abortScaleDownDelaySeconds ?? 30) * 1000;

  /**
   * Scales the ReplicaSet to 0 at `notBefore` (workflow time), unless its pods are wanted again by then:
   * it became stable, or a retry took it off the list.
   */
  function scaleDownLater(hash: string, notBefore: number, what: string): void {
    scaleDowns.set(hash, notBefore);
    const wait = Math.max(0, notBefore - Date.now());
    const done = scaleDownScope.run(async () => {
      if (wait > 0) {
        await condition(() => !scaleDowns.has(hash), wait, {
          summary: `keep ${what} pods ${formatDuration(wait)} after the traffic left them`,
        });
      }
      if (!scaleDowns.delete(hash) || hash === state.stableTemplateHash) return;
      scaleDownsUnderWay++;
      try {
        await cluster.scaleReplicaSet.executeWithOptions({ summary: `scale ${what} to 0` }, [
          { rollout, templateHash: hash, replicas: 0 },
        ]);
      } finally {
        scaleDownsUnderWay--;
      }
    });
    scalingDown.push(
      done.catch((error: unknown) => {
        if (isCancellation(error)) return;
        log.warn('could not scale down', { rollout: label, templateHash: hash, error: String(error) });
      }),
    );
  }

  /**
   * Before the run ends: what is still waiting to be scaled down is done, or, when a newer revision
   * has come, left to it in the run's result.
   */
  async function settleScaleDowns(): Promise<void> {
    await condition(() => scaleDowns.size === 0 || standingDown || interruption?.kind === 'supersede');
    if (scaleDowns.size > 0) {
      state.scaleDowns = [...scaleDowns].map(([hash, notBefore]): PendingScaleDown => ({
        templateHash: hash,
        notBefore: new Date(notBefore).toISOString(),
      }));
      scaleDowns.clear();
      scaleDownScope.cancel();
    }
    await Promise.all(scalingDown);
  }

  /**
   * Promotes the canary. A failure before the route has moved to it as the new stable goes back to
   * stable as an abort would, with the stable Service pointed back first; one after that (the old
   * stable's clean-up) leaves it stable, with a Warning. Returns the abort, if there was one.
   */
  async function promoteToStableOrAbort(): Promise<Interruption | undefined> {
    const previousStable = state.stableTemplateHash;
    try {
      await promoteToStable();
      return undefined;
    } catch (error) {
      if (isCancellation(error) || !patched(SAFE_RETURN_TO_STABLE)) throw error;
      promoting = false;
      if (state.stableTemplateHash === templateHash) {
        state.message = `${state.message}; the old stable's pods could not be scaled down: ${failureMessage(error)}`;
        showDetails();
        publishStatus('OldStableNotScaledDown', 'Warning');
        return undefined;
      }
      if (previousStable) {
        await CancellationScope.nonCancellable(() => pointServices(previousStable)).catch(() => undefined);
      }
      const type = failureType(error);
      return {
        kind: 'abort',
        reason: `promotion failed: ${failureMessage(error)}`,
        eventReason: EVENT_REASONS.includes(type ?? '') ? type : 'PromotionFailed',
      };
    }
  }

  /**
   * A first revision, or the stable one again: all its pods Ready, then stable. A failure before that
   * leaves it Degraded with its pods kept for their owners to look into (there is nothing older to go
   * back to) until a retry or a newer revision.
   */
  async function rollOutWithoutSteps(straight: string): Promise<RolloutState> {
    for (;;) {
      const interrupted =
        (await abortably(async () => {
          await scaleCanaryAndWait(100);
          filled = true;
        })) ?? (await promoteToStableOrAbort());
      if (!interrupted) return state;
      if (interrupted.kind === 'supersede') return standDownUnpromoted(interrupted.revision);
      enterPhase('Degraded', interrupted.reason, interrupted.eventReason ?? 'RolloutAborted');
      announce('rolledback', interrupted.reason);
      await condition(() => retryRequested || interruption?.kind === 'supersede');
      if (interruption?.kind === 'supersede') return standDownUnpromoted(interruption.revision);
      retryRequested = false;
      interruption = undefined;
      promotion = undefined;
      filled = false;
      attempt++;
      enterPhase('Progressing', `retried: ${straight}`);
    }
  }

  /** A newer revision came before this one became stable: its pods, if it is a first, go with it. */
  function standDownUnpromoted(newer: number): RolloutState {
    standingDown = true;
    if (!state.stableTemplateHash) scaleDownLater(templateHash, Date.now(), 'unpromoted canary');
    state.message = `superseded by r${newer}`;
    upsertSearchAttributes([{ key: RolloutPhaseKey, value: 'Superseded' }]);
    return state;
  }

  // --- resizing without a new revision --------------------------------------------------------------
  /** True while a resize is applied: the run waits for it before it ends. */
  let resizing = false;
  /** The resizes taken up so far; fewer than `resizes` while one asked for has not begun. */
  let resizesApplied = 0;

  /**
   * Sizes the pods to spec.replicas where the rollout is: the stable at full size, the canary at its
   * share of it (while the steps wait for the canary's pods, they size it themselves). The traffic
   * weights stay as they are: they are shares, whatever the pods behind them.
   */
  async function applyResize(): Promise<void> {
    const wanted = replicas;
    const stable = state.stableTemplateHash;
    const sized: string[] = [];
    if (stable && stable !== templateHash) {
      await cluster.scaleReplicaSet.executeWithOptions({ summary: `resize stable to ${wanted} pods` }, [
        { rollout, templateHash: stable, replicas: wanted },
      ]);
      sized.push(`stable ${wanted}`);
    }
    // An aborted canary's pods are on their way out, or kept as they were for their owners to look into.
    if ((canaryScale ?? 0) > 0 && state.phase !== 'Degraded') {
      const pods = canaryReplicasFor(wanted, canaryShare);
      if (!canaryScaling && pods !== canaryScale) {
        // From some pods to some: the guard, which trips only on none Ready, goes on guarding.
        resizingCanary = true;
        try {
          await cluster.ensureReplicaSet.executeWithOptions({ summary: `resize canary to ${pods} pods` }, [
            { rollout, revision, templateHash, replicas: pods },
          ]);
          canaryScale = pods;
        } finally {
          resizingCanary = false;
        }
      }
      sized.push(
        stable === templateHash ? `stable ${pods}` : `canary ${pods} for ${canaryShare}% of traffic`,
      );
    }
    const what = sized.length > 0 ? sized.join(', ') : 'no pods to resize yet';
    publishStatus('Resized', 'Normal', `resized to spec.replicas ${wanted}: ${what}`);
  }

  // A run superseded leaves a resize to its successor, which starts from the spec as it is then.
  void (async () => {
    for (;;) {
      await condition(
        () => resizes !== resizesApplied && !standingDown && interruption?.kind !== 'supersede',
      );
      resizesApplied = resizes;
      if (!patched(RESIZE_WITHOUT_REVISION)) continue;
      resizing = true;
      try {
        await applyResize();
      } catch (error) {
        if (isCancellation(error)) throw error;
        log.warn('could not resize', { rollout: label, replicas, error: String(error) });
      } finally {
        resizing = false;
      }
    }
  })().catch(() => undefined);

  // --- continuing as new when the history grows long (continue-as-new.ts) ---------------------------
  /** Nothing under way whose outcome only this run would hear, and no abort or newer revision to act on. */
  function quiet(): boolean {
    return (
      interruption === undefined &&
      !promoting &&
      !canaryTrafficMoved &&
      scaleDownsUnderWay === 0 &&
      resizes === resizesApplied &&
      !resizing &&
      !resizingCanary
    );
  }

  /**
   * Waits at a quiet point until `done`, continuing as new whenever the history grows long meanwhile;
   * `until` (workflow time) ends the wait, however many runs it spans. Returns false when it did.
   */
  async function waitQuietly(
    done: () => boolean,
    at: QuietPoint,
    until?: number,
    summary?: (left: number) => string,
  ): Promise<boolean> {
    // A wait about to end ends in this run: handing the analysis over could outlast what is left of it.
    const due = () =>
      quiet() &&
      historyTooLong(input.historyLimit) &&
      (until === undefined || until - Date.now() > LAST_MOMENT_TO_CONTINUE);
    for (;;) {
      if (until === undefined) {
        await condition(() => done() || due());
      } else {
        const left = until - Date.now();
        if (left <= 0) return false;
        if (!(await condition(() => done() || due(), left, { summary: summary?.(left) }))) return false;
      }
      if (done()) return true;
      await continueAsNewAt(at);
    }
  }

  /**
   * Continues as new, carrying all the next run needs to wait on exactly as this one would have;
   * returns, the run going on as it was, only if something came up meanwhile that this run must act on.
   */
  async function continueAsNewAt(at: QuietPoint): Promise<void> {
    log.info('continuing as new', { rollout: label, at, historyLength: workflowInfo().historyLength });
    const carried = await background?.handOver();
    await settleBeforeContinuing(() => [statusWrites, announcementsSent]);
    if (!quiet()) {
      // An abort or a newer revision came, or the canary's pods went unready: this run handles it.
      if (carried && interruption === undefined) resumeBackgroundAnalysis(carried);
      return;
    }
    const continued: RolloutContinuation = {
      runs: (input.continued?.runs ?? 0) + 1,
      at,
      state: { ...state },
      canaryScale,
      canaryShare,
      promotion,
      promotedBy,
      holds: [...holds],
      pauseMessage,
      attempt,
      background: carried,
      handovers,
      scaleDowns: [...scaleDowns].map(([hash, notBefore]) => ({
        templateHash: hash,
        notBefore: new Date(notBefore).toISOString(),
      })),
      announcementCount,
    };
    // The predecessor has stood down already; the number of pods is the one of this moment.
    const { supersedes: _handedOff, ...unchanged } = input;
    await continueRolloutAsNew({ ...unchanged, replicas, continued });
  }

  /** Takes up the rest of where the run before left off (its state and commands are taken up first). */
  function resume(continued: RolloutContinuation): void {
    canaryScale = continued.canaryScale;
    canaryShare = continued.canaryShare ?? 0;
    handovers = continued.handovers;
    announcementCount = continued.announcementCount;
    for (const left of continued.scaleDowns) {
      scaleDownLater(left.templateHash, Date.parse(left.notBefore), left.templateHash);
    }
  }

  // --- the rollout ----------------------------------------------------------------------------------
  try {
    const result = await rollOut();
    if (scalingDown.length > 0) await settleScaleDowns();
    return result;
  } finally {
    if (resizing) await CancellationScope.nonCancellable(() => condition(() => !resizing));
    await statusWrites;
    state.finishedWithCluster = true;
    await announcementsSent;
  }

  async function rollOut(): Promise<RolloutState> {
    try {
      if (input.continued) resume(input.continued);
      else if (input.supersedes) {
        const closed = await handoff.waitForWorkflowToClose.executeWithOptions(
          { summary: `wait for ${input.supersedes} to stand down` },
          [{ workflowId: input.supersedes }],
        );
        // The bridge read the stable from the status while the superseded revision may still have been
        // promoting itself; what that workflow left serving is the stable this one starts from.
        if (closed?.stableTemplateHash) state.stableTemplateHash = closed.stableTemplateHash;
        if (closed?.scaleDowns?.length && patched(DELAYED_SCALE_DOWN)) {
          for (const left of closed.scaleDowns) {
            // Pods this revision is made of, or serves from, are its own to keep.
            if (left.templateHash === templateHash || left.templateHash === state.stableTemplateHash)
              continue;
            scaleDownLater(left.templateHash, Date.parse(left.notBefore), left.templateHash);
          }
        }
      }
      // A newer revision came while this one waited for its predecessor: it has nothing to undo.
      if (interruption?.kind === 'supersede' && !input.continued && patched(SUPERSEDED_BEFORE_START)) {
        state.message = `superseded by r${interruption.revision} before it started`;
        upsertSearchAttributes([{ key: RolloutPhaseKey, value: 'Superseded' }]);
        return state;
      }
      const stable = state.stableTemplateHash;
      if (!stable || stable === templateHash) {
        // An app's first revision, or a return to the revision already stable: nothing to compare against,
        // so no step runs.
        state.currentStepIndex = steps.length;
        const straight = stable ? 'already stable' : 'first revision: straight to 100%';
        enterPhase('Progressing', straight);
        announce('deployed');
        if (patched(FILL_BEFORE_FLIP)) return await rollOutWithoutSteps(straight);
        await promoteToStable();
        return state;
      }
      for (;;) {
        const interrupted = (await runSteps()) ?? (await promoteToStableOrAbort());
        if (!interrupted) return state;
        const delayed = patched(DELAYED_SCALE_DOWN);
        if (interrupted.kind === 'supersede') {
          const problems = await CancellationScope.nonCancellable(() =>
            returnToStable(`superseded by r${interrupted.revision}: traffic to stable`, delayed),
          );
          standingDown = true;
          if (delayed) scaleDownLater(templateHash, Date.now() + abortScaleDownDelay, 'canary');
          state.message = degradedMessage(`superseded by r${interrupted.revision}`, problems);
          upsertSearchAttributes([{ key: RolloutPhaseKey, value: 'Superseded' }]);
          return state;
        }
        const problems = await CancellationScope.nonCancellable(() =>
          returnToStable('abort: traffic back to stable', delayed),
        );
        const reason = degradedMessage(interrupted.reason, problems);
        enterPhase('Degraded', reason, interrupted.eventReason ?? 'RolloutAborted');
        announce('rolledback', reason);
        // 0 keeps the canary's pods until a retry or a newer revision.
        if (delayed && abortScaleDownDelay > 0)
          scaleDownLater(templateHash, Date.now() + abortScaleDownDelay, 'canary');
        await condition(() => retryRequested || interruption?.kind === 'supersede');
        if (interruption?.kind === 'supersede') {
          standingDown = true;
          if (delayed && canaryScale !== 0 && !scaleDowns.has(templateHash))
            scaleDownLater(templateHash, Date.now(), 'canary');
          upsertSearchAttributes([{ key: RolloutPhaseKey, value: 'Superseded' }]);
          return state;
        }
        // The retry wants the canary's pods again: a scale-down not begun is called off, and the first
        // step scales the canary whatever became of one begun.
        scaleDowns.delete(templateHash);
        if (delayed) canaryScale = undefined;
        retryRequested = false;
        interruption = undefined;
        failedAnalysis = undefined;
        promotion = undefined;
        filled = false;
        state.currentStepIndex = 0;
        attempt++;
      }
    } catch (error) {
      if (isCancellation(error)) {
        // The Rollout was deleted: its ReplicaSets go with it, so only the traffic needs a last word.
        await CancellationScope.nonCancellable(async () => {
          await routeTraffic({ stable: 100, canary: 0 }, 'cancelled: traffic to stable', false).catch(
            () => undefined,
          );
        });
      }
      throw error;
    }
  }
}

/** The application failure behind an activity or child workflow error, if one is. */
function applicationFailureBehind(error: unknown): ApplicationFailure | undefined {
  let failure = error;
  while (failure instanceof ActivityFailure || failure instanceof ChildWorkflowFailure)
    failure = failure.cause;
  return failure instanceof ApplicationFailure ? failure : undefined;
}

/**
 * The non-retryable failure behind an activity or child workflow error: retrying the rollout as it is
 * cannot help.
 */
function permanentFailure(error: unknown): ApplicationFailure | undefined {
  const failure = applicationFailureBehind(error);
  return failure?.nonRetryable || PERMANENT_FAILURES.includes(failure?.type ?? '') ? failure : undefined;
}

function failureType(error: unknown): string | undefined {
  return applicationFailureBehind(error)?.type ?? undefined;
}

function failureMessage(error: unknown): string {
  return permanentFailure(error)?.message ?? (error instanceof Error ? error.message : String(error));
}
