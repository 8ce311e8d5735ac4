import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  ChildWorkflowFailure,
  condition,
  isCancellation,
  log,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  startChild,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { AnalysisActivities } from '../activities/analysis-activities';
import type { BlueGreenActivities } from '../activities/blue-green-activities';
import type { CDEventsActivities } from '../activities/cdevents-emission';
import type { RolloutActivities } from '../activities/rollout-activities';
import type { WorkflowHandoffActivities } from '../activities/workflow-handoff';
import type { RolloutCDEventInput, RolloutCDEventKind } from '../cdevents/rollout-event';
import type { AnalysisRunStatus, RolloutAnalysis } from '../schemas/analysis';
import { formatDuration } from '../schemas/duration';
import type { PodMetadata, RolloutPhase, TrafficWeights } from '../schemas/rollout';
import { analysisRun } from './analysis-run';
import { previewReplicasFor } from './strategies/blue-green-plan';
import {
  abortSignal,
  abortUpdate,
  analysisHoldSignal,
  promoteSignal,
  promoteUpdate,
  resizeSignal,
  retrySignal,
  retryUpdate,
  statusQuery,
  supersedeSignal,
  type AbortRequest,
  type BlueGreenRolloutInput,
  type PendingScaleDown,
  type PromoteRequest,
  type RetryRequest,
  type RolloutState,
} from './rollout-api';
import { RolloutPhaseKey } from './search-attributes';

const PERMANENT_FAILURES = [
  'RolloutGone',
  'RevisionSuperseded',
  'ProgressDeadlineExceeded',
  'InvalidConfiguration',
  'ServiceEndpointsNotReady',
];

const cluster = proxyActivities<RolloutActivities & BlueGreenActivities>({
  startToCloseTimeout: '1 minute',
  retry: {
    initialInterval: '1 second',
    maximumInterval: '30 seconds',
    nonRetryableErrorTypes: PERMANENT_FAILURES,
  },
});

// Waits only read, so an abort leaves them at once.
const waits = proxyActivities<RolloutActivities & BlueGreenActivities>({
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

const announcements = proxyActivities<CDEventsActivities>({
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '10 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '10 seconds', maximumAttempts: 10 },
});

const handoff = proxyActivities<WorkflowHandoffActivities>({
  startToCloseTimeout: '1 day',
  heartbeatTimeout: '20 seconds',
});

type Interruption =
  { kind: 'abort'; reason: string; eventReason?: string } | { kind: 'supersede'; revision: number };

/**
 * One revision of a Rollout, rolled out blue-green: its ReplicaSet starts beside the active one, the
 * preview Service selects it, and once its pods are available (previewReplicaCount, or full size), a
 * pre-promotion analysis has passed and the pause (if any) is over, it scales to full size and the
 * active Service switches to it at once. A post-promotion analysis that fails switches the active
 * Service back; the previous revision's pods go after scaleDownDelaySeconds. An abort before the switch
 * leaves the active Service where it is and waits for a retry; a newer revision makes this one stand down.
 */
export async function blueGreenRollout(input: BlueGreenRolloutInput): Promise<RolloutState> {
  const { rollout, revision, templateHash, blueGreen } = input;
  let replicas = input.replicas;
  const field = 'spec.strategy.blueGreen';
  const route = blueGreen.trafficRouting && blueGreen.previewService ? blueGreen.trafficRouting : undefined;
  const state: RolloutState = {
    phase: 'Pending',
    revision,
    templateHash,
    stableTemplateHash: input.stableTemplateHash,
    currentStepIndex: 0,
    stepCount: 0,
    weights: { stable: 100, canary: 0 },
    paused: false,
    message: '',
    blueGreen: { activeSelector: input.stableTemplateHash },
  };
  const label = `${rollout.namespace}/${rollout.name} r${revision}`;
  let attempt = 1;

  // --- commands -------------------------------------------------------------------------------------
  let promotion: PromoteRequest | undefined;
  let promotedBy: string | undefined;
  let interruption: Interruption | undefined;
  let retryRequested = false;
  let abortableScope: CancellationScope | undefined;
  /** While the active Service moves there is no abort: it is moved to one revision or the other. */
  let switching = false;
  /** True once the new revision is active, until it is promoted for good or switched back. */
  let activeOnTrial = false;
  const holds = new Map<string, string>();

  /** The newer revision this one must stand down for, once one has come. */
  const supersededBy = (): number | undefined =>
    interruption?.kind === 'supersede' ? interruption.revision : undefined;
  const fullPromotion = (): boolean => promotion?.full === true;
  const interrupt = (reason: Interruption) => {
    if (supersededBy() !== undefined) return;
    interruption = reason;
    abortableScope?.cancel();
  };
  const inFlight = () => !interruption && ['Progressing', 'Paused'].includes(state.phase);
  const refusePromote = (request: PromoteRequest = {}) => {
    if (!inFlight()) throw new Error(`nothing to promote: ${label} is ${state.phase}`);
    if (switching || activeOnTrial) throw new Error(`nothing to promote: ${label} is already active`);
    if (!request.full && !state.paused)
      throw new Error(`nothing to promote: ${label} is not paused; use full`);
  };
  const promote = (request: PromoteRequest = {}) => {
    promotion = { full: request.full || promotion?.full, by: request.by };
    promotedBy = request.by ?? promotedBy;
    log.info('promote requested', { rollout: label, ...request });
  };
  const refuseAbort = (_request?: AbortRequest) => {
    if (!inFlight()) throw new Error(`nothing to abort: ${label} is ${state.phase}`);
    if (switching) throw new Error(`too late to abort: ${label} is switching the active Service`);
  };
  const abort = (request: AbortRequest = {}) => {
    const reason = `aborted${request.by ? ` by ${request.by}` : ''}${request.reason ? `: ${request.reason}` : ''}`;
    interrupt({ kind: 'abort', reason });
  };
  const refuseRetry = (_request?: RetryRequest) => {
    if (state.phase !== 'Degraded' || supersededBy() !== undefined) {
      throw new Error(`nothing to retry: ${label} is ${state.phase}`);
    }
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
      refuseAbort();
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
    if (Number.isInteger(wanted) && wanted >= 0) replicas = wanted;
  });
  setHandler(analysisHoldSignal, ({ held, message }) => {
    if (!inFlight()) return;
    if (held) {
      holds.set('analysis', `analysis inconclusive: ${message}; promote to go on, or abort`);
      state.paused = true;
      enterPhase('Paused', holds.get('analysis') ?? '');
    } else if (holds.delete('analysis')) {
      state.paused = false;
      enterPhase('Progressing', 'analysis conclusive again');
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

  // --- the rollout log ------------------------------------------------------------------------------
  let statusWrites: Promise<void> = Promise.resolve();
  let failedAnalysis: { key: 'prePromotion' | 'postPromotion'; verdict: AnalysisRunStatus } | undefined;
  function publishStatus(eventReason?: string, eventType?: 'Normal' | 'Warning'): void {
    const { phase, message } = state;
    const status = {
      phase,
      message,
      replicas,
      currentStepIndex: 0,
      stepCount: 0,
      ...(route ? { weights: state.weights } : {}),
      stableTemplateHash: state.stableTemplateHash,
      blueGreen: { ...state.blueGreen },
      ...(phase === 'Degraded' && failedAnalysis
        ? { analysis: { [failedAnalysis.key]: failedAnalysis.verdict } }
        : {}),
    };
    const progressing = {
      type: 'Progressing',
      status: phase === 'Progressing' || phase === 'Paused' ? ('True' as const) : ('False' as const),
      reason: eventReason ?? phase,
      message,
    };
    statusWrites = statusWrites.then(() =>
      CancellationScope.nonCancellable(async () => {
        try {
          await cluster.writeRolloutStatus.executeWithOptions({ summary: `status ${phase}: ${message}` }, [
            { rollout, revision, status, condition: progressing },
          ]);
          if (eventReason) {
            const type = eventType ?? (phase === 'Degraded' ? 'Warning' : 'Normal');
            await cluster.recordRolloutEvent.executeWithOptions({ summary: `event ${eventReason}` }, [
              { rollout, type, reason: eventReason, message: `r${revision}: ${message}` },
            ]);
          }
        } catch (error) {
          log.warn('could not write the Rollout status', { rollout: label, phase, error: String(error) });
        }
      }),
    );
  }

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
      stepIndex: 0,
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

  function showDetails(): void {
    const { activeSelector, previewSelector } = state.blueGreen ?? {};
    setCurrentDetails(
      [
        `**${state.phase}** — ${state.message}`,
        `active: ${activeSelector ?? '-'} / preview: ${previewSelector ?? '-'}`,
        ...(route ? [`weights: active ${state.weights.stable}% / preview ${state.weights.canary}%`] : []),
      ].join('\n\n'),
    );
  }

  function enterPhase(phase: RolloutPhase, message: string, eventReason?: string): void {
    state.phase = phase;
    state.message = message;
    upsertSearchAttributes([{ key: RolloutPhaseKey, value: phase }]);
    showDetails();
    publishStatus(eventReason);
  }

  function say(message: string): void {
    state.message = message;
    showDetails();
    publishStatus();
  }

  // --- pods, Services and the route -----------------------------------------------------------------
  async function scaleAndWait(hash: string, pods: number, summary: string): Promise<void> {
    await cluster.ensureReplicaSet.executeWithOptions({ summary: `scale ${summary} to ${pods} pods` }, [
      { rollout, revision, templateHash: hash, replicas: pods },
    ]);
    await waits.waitForReplicaSetAvailable.executeWithOptions(
      { summary: `wait for ${pods} ${summary} pods Ready` },
      [{ rollout, templateHash: hash, replicas: pods, deadlineSeconds: input.progressDeadlineSeconds }],
    );
  }

  function podMetadata(
    hash: string,
    set: PodMetadata | undefined,
    remove: PodMetadata | undefined,
    role: string,
  ) {
    if (!set && !remove) return Promise.resolve();
    return cluster.setRevisionPodMetadata.executeWithOptions(
      { summary: `${role} metadata on ${hash} pods` },
      [{ rollout, templateHash: hash, ...(set ? { metadata: set } : {}), ...(remove ? { remove } : {}) }],
    );
  }

  function pointService(
    service: string,
    hash: string,
    which: 'active' | 'preview',
    availableReplicas?: number,
  ) {
    return cluster.pointServiceAtRevision.executeWithOptions({ summary: `${which} Service → ${hash}` }, [
      {
        rollout,
        service,
        templateHash: hash,
        field: `${field}.${which}Service`,
        ...(availableReplicas === undefined ? {} : { availableReplicas }),
      },
    ]);
  }

  function serviceEndpoints(service: string, hash: string, pods: number) {
    return waits.waitForServiceEndpoints.executeWithOptions(
      { summary: `wait for Service ${service} on the ${pods} pods of ${hash}` },
      [
        {
          rollout,
          service,
          templateHash: hash,
          replicas: pods,
          deadlineSeconds: input.progressDeadlineSeconds,
        },
      ],
    );
  }

  async function setWeights(
    weights: TrafficWeights,
    summary: string,
    available?: { hash: string; pods: number },
  ) {
    if (!route || !blueGreen.previewService) return;
    await cluster.setTrafficWeights.executeWithOptions({ summary }, [
      {
        rollout,
        trafficRouting: route,
        stableService: blueGreen.activeService,
        canaryService: blueGreen.previewService,
        weights,
        ...(available ? { availableCanary: { templateHash: available.hash, replicas: available.pods } } : {}),
      },
    ]);
    state.weights = weights;
  }

  /**
   * Moves the active Service to the `pods` available pods of `hash`. With a route, the traffic goes to
   * the preview Service on those pods first (one route write), the active Service's selector follows
   * with no traffic on it, and once its endpoints are those pods alone the weights go back to it. Without
   * one, the selector moves, checked against the pods in the same attempt.
   */
  async function switchActiveTo(hash: string, pods: number): Promise<void> {
    if (route && blueGreen.previewService) {
      if (state.blueGreen?.previewSelector !== hash) {
        await pointService(blueGreen.previewService, hash, 'preview');
        state.blueGreen = { ...state.blueGreen, previewSelector: hash };
      }
      await serviceEndpoints(blueGreen.previewService, hash, pods);
      await setWeights({ stable: 0, canary: 100 }, `traffic to the preview Service on ${hash}`, {
        hash,
        pods,
      });
      await pointService(blueGreen.activeService, hash, 'active');
      state.blueGreen = { ...state.blueGreen, activeSelector: hash };
      await serviceEndpoints(blueGreen.activeService, hash, pods);
      await setWeights({ stable: 100, canary: 0 }, `traffic back to the active Service, now on ${hash}`);
    } else {
      await pointService(blueGreen.activeService, hash, 'active', pods);
      state.blueGreen = { ...state.blueGreen, activeSelector: hash };
      await serviceEndpoints(blueGreen.activeService, hash, pods);
    }
  }

  // --- abortable work -------------------------------------------------------------------------------
  async function abortably(work: () => Promise<void>): Promise<Interruption | undefined> {
    abortableScope = new CancellationScope();
    try {
      if (interruption) return interruption;
      await abortableScope.run(work);
      return undefined;
    } catch (error) {
      if (interruption && isCancellation(error)) return interruption;
      const failure = permanentFailure(error);
      if (failure?.type === 'RevisionSuperseded') return { kind: 'supersede', revision: revision + 1 };
      if (failure) {
        const named = [
          'AnalysisFailed',
          'ProgressDeadlineExceeded',
          'TrafficRouteMissing',
          'TrafficRouteMisconfigured',
        ];
        return {
          kind: 'abort',
          reason: failure.message,
          eventReason: named.includes(failure.type ?? '') ? (failure.type ?? undefined) : undefined,
        };
      }
      throw error;
    } finally {
      abortableScope = undefined;
    }
  }

  // --- analysis -------------------------------------------------------------------------------------
  /** Runs an analysis to its verdict; a failure throws as an abort would, a promote skips a hold. */
  async function analyse(analysis: RolloutAnalysis, key: 'prePromotion' | 'postPromotion'): Promise<void> {
    const name = key === 'prePromotion' ? 'pre-promotion analysis' : 'post-promotion analysis';
    const metrics = await analyses.resolveAnalysis.executeWithOptions({ summary: `resolve ${name}` }, [
      {
        rollout,
        analysis,
        field: `${field}.${key}Analysis`,
        mode: 'step',
        context: {
          namespace: rollout.namespace,
          rollout: rollout.name,
          canaryHash: templateHash,
          stableHash: previousStable ?? templateHash,
          canaryService: blueGreen.previewService ?? blueGreen.activeService,
          stableService: blueGreen.activeService,
        },
      },
    ]);
    const scope = new CancellationScope();
    let verdict: AnalysisRunStatus | undefined;
    let failure: unknown;
    scope
      .run(async () => {
        const child = await startChild(analysisRun, {
          workflowId: `${workflowInfo().workflowId}/analysis/${key}/a${attempt}`,
          args: [
            {
              rollout,
              revision,
              kind: 'step',
              gate: { statusKey: key, name },
              metrics,
              historyLimit: input.analysisHistoryLimit,
            },
          ],
          staticSummary: `${label}: ${name} of ${metrics.map((metric) => metric.name).join(', ')}`,
        });
        return child.result();
      })
      .then(
        (result) => (verdict = result),
        (error: unknown) => (failure = error ?? new Error(`${name} failed`)),
      );
    try {
      await condition(
        () => verdict !== undefined || failure !== undefined || (holds.size > 0 && promotion !== undefined),
      );
    } finally {
      scope.cancel();
    }
    if (!verdict && failure === undefined) {
      // Promoted past an inconclusive analysis.
      holds.clear();
      if (!fullPromotion()) promotion = undefined;
      state.paused = false;
      enterPhase('Progressing', `promoted past the ${name}`);
      return;
    }
    holds.clear();
    state.paused = false;
    if (failure !== undefined) {
      if (isCancellation(failure)) throw failure;
      throw ApplicationFailure.nonRetryable(
        `${name} could not run: ${failureMessage(failure)}`,
        'AnalysisFailed',
      );
    }
    if (verdict?.phase === 'Failed') {
      failedAnalysis = { key, verdict };
      throw ApplicationFailure.nonRetryable(`${name} failed: ${verdict.message ?? ''}`, 'AnalysisFailed');
    }
  }

  // --- pausing before the switch ---------------------------------------------------------------------
  async function pauseBeforeSwitch(): Promise<void> {
    if (promotion) {
      if (!promotion.full) promotion = undefined;
      return;
    }
    const seconds = blueGreen.autoPromotionSeconds;
    if (blueGreen.autoPromotionEnabled && seconds === undefined) return;
    const timed = blueGreen.autoPromotionEnabled && seconds !== undefined;
    state.paused = true;
    if (timed) state.pauseEndsAt = new Date(Date.now() + seconds * 1000).toISOString();
    enterPhase(
      'Paused',
      timed
        ? `preview ready: promoting in ${formatDuration(seconds * 1000)}, or when promoted`
        : 'preview ready: waiting for a promote',
    );
    if (timed)
      await condition(() => promotion !== undefined, seconds * 1000, {
        summary: `auto-promote in ${seconds}s`,
      });
    else await condition(() => promotion !== undefined);
    state.paused = false;
    state.pauseEndsAt = undefined;
    if (!fullPromotion()) promotion = undefined;
    enterPhase('Progressing', promotedBy ? `promoted by ${promotedBy}` : 'pause over');
  }

  // --- scaling down once the traffic has surely left -------------------------------------------------
  const scaleDowns = new Map<string, number>();
  const scalingDown: Promise<void>[] = [];
  /** Set once this run has handed what it still had to scale down to the revision after it. */
  let standingDown = false;
  function scaleDownLater(hash: string, notBefore: number, what: string): void {
    scaleDowns.set(hash, notBefore);
    const wait = Math.max(0, notBefore - Date.now());
    scalingDown.push(
      (async () => {
        if (wait > 0) {
          await condition(() => scaleDowns.get(hash) !== notBefore || supersededBy() !== undefined, wait, {
            summary: `keep ${what} pods ${formatDuration(wait)}`,
          });
        }
        // Called off (a retry wants the pods), or left to the revision that supersedes this one.
        if (scaleDowns.get(hash) !== notBefore || supersededBy() !== undefined) return;
        scaleDowns.delete(hash);
        // Pods the active Service selects are never scaled down.
        if (hash === state.blueGreen?.activeSelector) return;
        await cluster.scaleReplicaSet.executeWithOptions({ summary: `scale ${what} to 0` }, [
          { rollout, templateHash: hash, replicas: 0 },
        ]);
      })().catch((error: unknown) => {
        log.warn('could not scale down', { rollout: label, templateHash: hash, error: String(error) });
      }),
    );
  }
  /** What is still to be scaled down goes to the revision that supersedes this one. */
  function handOverScaleDowns(): void {
    standingDown = true;
    state.scaleDowns = [...scaleDowns].map(([hash, notBefore]): PendingScaleDown => ({
      templateHash: hash,
      notBefore: new Date(notBefore).toISOString(),
    }));
    scaleDowns.clear();
  }

  // --- the rollout ----------------------------------------------------------------------------------
  let previousStable = state.stableTemplateHash;
  try {
    const result = await rollOut();
    if (!standingDown) await Promise.all(scalingDown);
    return result;
  } finally {
    await statusWrites;
    state.finishedWithCluster = true;
    await announcementsSent;
  }

  function superseded(newer: number, message = `superseded by r${newer}`): RolloutState {
    handOverScaleDowns();
    state.message = message;
    upsertSearchAttributes([{ key: RolloutPhaseKey, value: 'Superseded' }]);
    return state;
  }

  async function rollOut(): Promise<RolloutState> {
    if (input.supersedes) {
      const closed = await handoff.waitForWorkflowToClose.executeWithOptions(
        { summary: `wait for ${input.supersedes} to stand down` },
        [{ workflowId: input.supersedes }],
      );
      if (closed?.stableTemplateHash) state.stableTemplateHash = closed.stableTemplateHash;
      previousStable = state.stableTemplateHash;
      state.blueGreen = { activeSelector: previousStable };
      for (const left of closed?.scaleDowns ?? []) {
        if (left.templateHash === templateHash || left.templateHash === previousStable) continue;
        scaleDownLater(left.templateHash, Date.parse(left.notBefore), left.templateHash);
      }
    }
    if (supersededBy() !== undefined) {
      return superseded(
        supersededBy() ?? revision + 1,
        `superseded by r${supersededBy() ?? revision + 1} before it started`,
      );
    }
    const full = () => replicas;
    announce('deployed');
    if (!previousStable || previousStable === templateHash) return rollOutStraight();
    const existing = await cluster.readRevisionReplicaSet.executeWithOptions(
      { summary: `look for the pods of ${templateHash}` },
      [{ rollout, templateHash }],
    );
    if (existing && existing.replicas >= full() && existing.availableReplicas >= full()) return fastTrack();

    for (;;) {
      const interrupted = await abortably(async () => {
        const previewPods = previewReplicasFor(blueGreen.previewReplicaCount, full());
        enterPhase('Progressing', `preview: starting ${previewPods} pods of r${revision}`, 'RolloutStarted');
        await cluster.ensureReplicaSet.executeWithOptions(
          { summary: `scale preview to ${previewPods} pods` },
          [{ rollout, revision, templateHash, replicas: previewPods }],
        );
        await Promise.all([
          blueGreen.previewService
            ? pointService(blueGreen.previewService, templateHash, 'preview')
            : undefined,
          podMetadata(templateHash, blueGreen.previewMetadata, blueGreen.activeMetadata, 'preview'),
        ]);
        state.blueGreen = {
          ...state.blueGreen,
          previewSelector: blueGreen.previewService ? templateHash : undefined,
        };
        say(`preview: waiting for ${previewPods} pods of r${revision} to be Ready`);
        await waits.waitForReplicaSetAvailable.executeWithOptions(
          { summary: `wait for ${previewPods} preview pods Ready` },
          [{ rollout, templateHash, replicas: previewPods, deadlineSeconds: input.progressDeadlineSeconds }],
        );
        if (blueGreen.prePromotionAnalysis && !fullPromotion()) {
          say('preview: pre-promotion analysis');
          await analyse(blueGreen.prePromotionAnalysis, 'prePromotion');
        }
        await pauseBeforeSwitch();
        say(`promoting: scaling r${revision} to ${full()} pods`);
        await scaleAndWait(templateHash, full(), 'new revision');
      });
      if (interrupted) {
        const next = await handleInterruption(interrupted);
        if (next) return next;
        continue;
      }
      // --- the switch: no abort until the active Service is on one revision or the other ---
      switching = true;
      try {
        say(`switching the active Service to r${revision}`);
        await switchActiveTo(templateHash, full());
      } catch (error) {
        if (isCancellation(error)) throw error;
        switching = false;
        // Back to the previous revision, whose pods are all still there.
        const problems = await switchBack();
        const next = await handleInterruption({
          kind: 'abort',
          reason: `the switch failed: ${failureMessage(error)}${problems}`,
          eventReason: 'PromotionFailed',
        });
        if (next) return next;
        continue;
      }
      switching = false;
      const switchedAt = Date.now();
      state.stableTemplateHash = templateHash;
      await podMetadata(templateHash, blueGreen.activeMetadata, blueGreen.previewMetadata, 'active').catch(
        (error: unknown) =>
          log.warn('could not label the active pods', { rollout: label, error: String(error) }),
      );
      announce('upgraded');
      const postPromotion = blueGreen.postPromotionAnalysis;
      if (postPromotion) {
        activeOnTrial = true;
        say(`r${revision} active: post-promotion analysis`);
        const verdict = await abortably(() => analyse(postPromotion, 'postPromotion'));
        activeOnTrial = false;
        if (verdict?.kind === 'supersede') {
          // Active it stays; the next revision starts from it.
          if (previousStable)
            scaleDownLater(
              previousStable,
              switchedAt + blueGreen.scaleDownDelaySeconds * 1000,
              'previous active',
            );
          return superseded(verdict.revision);
        }
        if (verdict) {
          switching = true;
          const problems = await switchBack();
          switching = false;
          const next = await handleInterruption({ ...verdict, reason: `${verdict.reason}${problems}` });
          if (next) return next;
          continue;
        }
      }
      const by = promotedBy ? ` (promoted by ${promotedBy})` : '';
      enterPhase('Healthy', `r${revision} is active${by}`, 'RolloutCompleted');
      announce('published');
      if (previousStable && previousStable !== templateHash) {
        scaleDownLater(
          previousStable,
          switchedAt + blueGreen.scaleDownDelaySeconds * 1000,
          'previous active',
        );
        await condition(() => scaleDowns.size === 0 || supersededBy() !== undefined);
        if (supersededBy() !== undefined) return superseded(supersededBy() ?? revision + 1);
        await cluster.pruneOldReplicaSets
          .executeWithOptions({ summary: 'prune old ReplicaSets' }, [
            { rollout, keepTemplateHashes: [templateHash] },
          ])
          .catch((error: unknown) => log.warn('could not prune', { rollout: label, error: String(error) }));
      }
      return state;
    }
  }

  /** The active Service back on the previous revision; returns what could not be done, as a message. */
  async function switchBack(): Promise<string> {
    const back = previousStable;
    if (!back) return '';
    state.stableTemplateHash = back;
    return CancellationScope.nonCancellable(async () => {
      try {
        if (state.blueGreen?.activeSelector !== back || state.weights.stable !== 100) {
          await waits.waitForReplicaSetAvailable.executeWithOptions(
            { summary: `wait for ${replicas} previous pods` },
            [{ rollout, templateHash: back, replicas, deadlineSeconds: input.progressDeadlineSeconds }],
          );
          await switchActiveTo(back, replicas);
        }
        return '';
      } catch (error) {
        return `; then the active Service could not be switched back to ${back}: ${failureMessage(error)}`;
      }
    });
  }

  /**
   * After an abort: Degraded, the active Service where it was, the preview on the active pods, and the
   * new pods scaled down after abortScaleDownDelaySeconds; returns the state to end with once a newer
   * revision comes, or undefined on a retry.
   */
  async function handleInterruption(interrupted: Interruption): Promise<RolloutState | undefined> {
    const stable = previousStable;
    const delay = blueGreen.abortScaleDownDelaySeconds * 1000;
    if (interrupted.kind === 'supersede') {
      scaleDownLater(templateHash, Date.now() + delay, 'new revision');
      return superseded(interrupted.revision);
    }
    let problems = '';
    await CancellationScope.nonCancellable(async () => {
      try {
        if (stable && blueGreen.previewService && state.blueGreen?.previewSelector !== stable) {
          await setWeights({ stable: 100, canary: 0 }, 'abort: all traffic on the active Service');
          await pointService(blueGreen.previewService, stable, 'preview');
          state.blueGreen = { ...state.blueGreen, previewSelector: stable };
        }
      } catch (error) {
        problems = `; then the preview Service could not be pointed back at ${stable}: ${failureMessage(error)}`;
      }
    });
    const reason = `${interrupted.reason}${problems}`;
    enterPhase(
      'Degraded',
      stable ? reason : `${reason}; no previous revision to go back to`,
      interrupted.eventReason ?? 'RolloutAborted',
    );
    announce('rolledback', reason);
    if (stable && delay > 0) scaleDownLater(templateHash, Date.now() + delay, 'new revision');
    await condition(() => retryRequested || supersededBy() !== undefined);
    if (supersededBy() !== undefined) {
      if (stable && !scaleDowns.has(templateHash) && delay > 0)
        scaleDownLater(templateHash, Date.now(), 'new revision');
      return superseded(supersededBy() ?? revision + 1);
    }
    scaleDowns.delete(templateHash);
    retryRequested = false;
    interruption = undefined;
    failedAnalysis = undefined;
    promotion = undefined;
    attempt++;
    return undefined;
  }

  /** The previous template again, its pods still all there: the active Service goes back to them at once. */
  async function fastTrack(): Promise<RolloutState> {
    enterPhase(
      'Progressing',
      `r${revision} has its pods still running: switching back to them at once`,
      'RolloutStarted',
    );
    switching = true;
    try {
      await cluster.ensureReplicaSet.executeWithOptions({ summary: 'take the running pods over' }, [
        { rollout, revision, templateHash, replicas },
      ]);
      await switchActiveTo(templateHash, replicas);
    } catch (error) {
      if (isCancellation(error)) throw error;
      switching = false;
      const problems = await switchBack();
      const next = await handleInterruption({
        kind: 'abort',
        reason: `the switch failed: ${failureMessage(error)}${problems}`,
        eventReason: 'PromotionFailed',
      });
      return next ?? rollOutStraight();
    }
    switching = false;
    const switchedAt = Date.now();
    state.stableTemplateHash = templateHash;
    await podMetadata(templateHash, blueGreen.activeMetadata, blueGreen.previewMetadata, 'active').catch(
      () => undefined,
    );
    enterPhase('Healthy', `r${revision} is active again (fast-track rollback)`, 'RolloutCompleted');
    announce('published');
    if (previousStable) {
      scaleDownLater(previousStable, switchedAt + blueGreen.scaleDownDelaySeconds * 1000, 'previous active');
      await condition(() => scaleDowns.size === 0 || supersededBy() !== undefined);
      if (supersededBy() !== undefined) return superseded(supersededBy() ?? revision + 1);
    }
    return state;
  }

  /** A first revision, or the active one again: all its pods Ready, then both Services on it. */
  async function rollOutStraight(): Promise<RolloutState> {
    const straight = previousStable ? 'already active' : 'first revision: straight to active';
    for (;;) {
      const interrupted = await abortably(async () => {
        enterPhase('Progressing', straight, 'RolloutStarted');
        await scaleAndWait(templateHash, replicas, 'new revision');
        await podMetadata(templateHash, blueGreen.activeMetadata, blueGreen.previewMetadata, 'active');
        await pointService(blueGreen.activeService, templateHash, 'active', replicas);
        if (blueGreen.previewService) await pointService(blueGreen.previewService, templateHash, 'preview');
        await setWeights({ stable: 100, canary: 0 }, 'all traffic on the active Service');
        state.blueGreen = {
          activeSelector: templateHash,
          ...(blueGreen.previewService ? { previewSelector: templateHash } : {}),
        };
      });
      if (!interrupted) break;
      if (interrupted.kind === 'supersede') return superseded(interrupted.revision);
      enterPhase('Degraded', interrupted.reason, interrupted.eventReason ?? 'RolloutAborted');
      announce('rolledback', interrupted.reason);
      await condition(() => retryRequested || supersededBy() !== undefined);
      if (supersededBy() !== undefined) return superseded(supersededBy() ?? revision + 1);
      retryRequested = false;
      interruption = undefined;
      attempt++;
    }
    state.stableTemplateHash = templateHash;
    enterPhase('Healthy', `r${revision} is active`, 'RolloutCompleted');
    announce('published');
    return state;
  }
}

function applicationFailureBehind(error: unknown): ApplicationFailure | undefined {
  let failure = error;
  while (failure instanceof ActivityFailure || failure instanceof ChildWorkflowFailure)
    failure = failure.cause;
  return failure instanceof ApplicationFailure ? failure : undefined;
}

function permanentFailure(error: unknown): ApplicationFailure | undefined {
  const failure = applicationFailureBehind(error);
  return failure?.nonRetryable || PERMANENT_FAILURES.includes(failure?.type ?? '') ? failure : undefined;
}

function failureMessage(error: unknown): string {
  return permanentFailure(error)?.message ?? (error instanceof Error ? error.message : String(error));
}
