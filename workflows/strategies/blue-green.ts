import { CancellationScope, condition, isCancellation, log } from '@temporalio/workflow';
import { EventReason } from '../../reasons/rollout-reasons';
import type { PodMetadata, TrafficWeights } from '../../schemas/rollout';
import type { BlueGreenRolloutInput, RolloutState } from '../rollout-api';
import { cluster, guards } from '../rollout-core/activity-options';
import { failureMessage } from '../rollout-core/failures';
import type { Interruption } from '../rollout-core/gates';
import { predecessorClosed, successorAnswered, takeOverFrom } from '../rollout-core/predecessor';
import { rolloutParts } from '../rollout-core/rollout-parts';
import { RolloutRun } from '../rollout-core/rollout-run';
import {
  blueGreenSteps,
  describeBlueGreenStep,
  pauseSeconds,
  previewReplicasFor,
  type BlueGreenStep,
} from './blue-green-plan';

const FIELD = 'spec.strategy.blueGreen';

/**
 * One revision of a Rollout, rolled out blue-green: its ReplicaSet starts beside the active one with the
 * preview Service on it; once its pods are Ready (previewReplicaCount, or full size), the pre-promotion
 * analysis has passed and the pause (if any) is over, it scales to full size and the active Service
 * switches to it at once. A failed post-promotion analysis switches the active Service back; the
 * previous revision's pods go scaleDownDelaySeconds after the switch. An abort before the switch
 * leaves the active Service where it is and waits for a retry; a newer revision makes this one stand
 * down. The previous template again, its pods still there, is switched back to at once.
 */
export async function blueGreenRollout(input: BlueGreenRolloutInput): Promise<RolloutState> {
  const { blueGreen } = input;
  const steps = blueGreenSteps(blueGreen);
  const run = new RolloutRun(input, steps.length);
  const { rollout, revision, templateHash, state, label } = run;
  const { activeService, previewService } = blueGreen;
  /** The route between the two Services, if the switch goes through one. */
  const route = previewService ? blueGreen.trafficRouting : undefined;
  state.blueGreen = { activeSelector: state.stableTemplateHash };

  // What every strategy shares (rollout-core/): the log, the gates and their commands, the analyses,
  // resizes and delayed scale-downs.
  const { rolloutLog, gates, resizes, analyses, scaleDowns, webhooks, leftToSuccessor } = rolloutParts(run, {
    progress: () => [
      `active: ${state.blueGreen?.activeSelector ?? '-'} / preview: ${state.blueGreen?.previewSelector ?? '-'}`,
      ...(route ? [`weights: active ${state.weights.stable}% / preview ${state.weights.canary}%`] : []),
      ...steps.map((step, index) => {
        const mark = index < state.currentStepIndex ? '✓' : index === state.currentStepIndex ? '▶' : ' ';
        return `${mark} ${index + 1}. ${describeBlueGreenStep(step, blueGreen)}`;
      }),
    ],
    analyses: { canaryService: previewService ?? activeService, stableService: activeService },
    // A blue-green run never continues as new: however long it waits for a promote, its history stays
    // at a few dozen events, far below the limit (continue-as-new.ts).
    quiet: { busy: () => true, carried: () => ({}) },
    webhooks: blueGreen.webhooks,
  });
  /** The revision the active Service selected before this one: kept at full size until this one is stable. */
  let previous = state.stableTemplateHash;
  /** When the active Service last moved to the new revision: the previous one's delay counts from then. */
  let switchedAt = 0;

  // --- the rollout log, as blue-green says it ------------------------------------------------------
  function say(message: string): void {
    state.message = message;
    rolloutLog.showDetails();
    rolloutLog.publishStatus();
  }
  const step = (which: BlueGreenStep) => `step ${steps.indexOf(which) + 1}/${steps.length}`;

  // --- pods, Services and the route -----------------------------------------------------------------
  async function scaleNewRevision(pods: number): Promise<void> {
    await cluster.ensureReplicaSet.executeWithOptions({ summary: `scale r${revision} to ${pods} pods` }, [
      { rollout, revision, templateHash, replicas: pods },
    ]);
  }

  function waitForPods(hash: string, pods: number, summary: string): Promise<unknown> {
    return guards.waitForReplicaSetAvailable.executeWithOptions({ summary }, [
      { rollout, templateHash: hash, replicas: pods, deadlineSeconds: input.progressDeadlineSeconds },
    ]);
  }

  /** Puts a role's labels and annotations on a revision's pods, and takes the other role's off. */
  function labelPods(hash: string, role: 'active' | 'preview'): Promise<void> {
    const [set, remove]: (PodMetadata | undefined)[] =
      role === 'active'
        ? [blueGreen.activeMetadata, blueGreen.previewMetadata]
        : [blueGreen.previewMetadata, blueGreen.activeMetadata];
    if (!set && !remove) return Promise.resolve();
    return cluster.setRevisionPodMetadata.executeWithOptions(
      { summary: `${role} metadata on the pods of ${hash}` },
      [{ rollout, templateHash: hash, ...(set ? { metadata: set } : {}), ...(remove ? { remove } : {}) }],
    );
  }

  /** Points a Service at a revision; with `availableReplicas`, only if it has those pods available. */
  async function pointService(role: 'active' | 'preview', hash: string, availableReplicas?: number) {
    const service = role === 'active' ? activeService : previewService;
    if (!service) return;
    await cluster.pointServiceAtRevision.executeWithOptions({ summary: `${role} Service → ${hash}` }, [
      {
        rollout,
        service,
        templateHash: hash,
        field: `${FIELD}.${role}Service`,
        ...(availableReplicas === undefined ? {} : { availableReplicas }),
      },
    ]);
    state.blueGreen = { ...state.blueGreen, [`${role}Selector`]: hash };
  }

  /** Waits until a Service's endpoints are the `pods` Ready pods of `hash` alone. */
  function serviceOn(service: string, hash: string, pods: number): Promise<unknown> {
    return guards.waitForServiceEndpoints.executeWithOptions(
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
    if (!route || !previewService) return;
    await cluster.setTrafficWeights.executeWithOptions({ summary }, [
      {
        rollout,
        trafficRouting: route,
        stableService: activeService,
        canaryService: previewService,
        weights,
        ...(available ? { availableCanary: { templateHash: available.hash, replicas: available.pods } } : {}),
      },
    ]);
    state.weights = weights;
  }

  /**
   * Moves the active Service to the `pods` available pods of `hash`. Through a route, the traffic
   * goes to the preview Service on those pods first (one route write), the active Service's selector
   * follows while it has no traffic, and once its endpoints are those pods alone the weights go back
   * to it. Without one, the selector moves, checked against the pods in the same attempt. Either way
   * it returns once the active Service's endpoints are the new pods.
   */
  async function switchActiveTo(hash: string, pods: number): Promise<void> {
    if (route && previewService) {
      if (state.blueGreen?.previewSelector !== hash) await pointService('preview', hash);
      await serviceOn(previewService, hash, pods);
      await setWeights({ stable: 0, canary: 100 }, `traffic to the preview Service on ${hash}`, {
        hash,
        pods,
      });
      await pointService('active', hash);
      await serviceOn(activeService, hash, pods);
      await setWeights({ stable: 100, canary: 0 }, `traffic back to the active Service, now on ${hash}`);
    } else {
      await pointService('active', hash, pods);
      await serviceOn(activeService, hash, pods);
    }
  }

  /** The active Service back on the previous revision; returns what could not be done, for the message. */
  async function switchBack(): Promise<string> {
    const back = previous;
    if (!back || (state.blueGreen?.activeSelector === back && state.weights.stable === 100)) return '';
    return CancellationScope.nonCancellable(async () => {
      try {
        await waitForPods(back, run.replicas, `wait for the ${run.replicas} pods of ${back}`);
        await switchActiveTo(back, run.replicas);
        return '';
      } catch (error) {
        return `; then the active Service could not be switched back to ${back}: ${failureMessage(error)}`;
      }
    });
  }

  // --- the steps ------------------------------------------------------------------------------------
  async function preview(): Promise<void> {
    const pods = previewReplicasFor(blueGreen.previewReplicaCount, run.replicas);
    rolloutLog.enterPhase(
      'Progressing',
      `${step('preview')}: ${pods} pods of r${revision}`,
      EventReason.RolloutStarted,
    );
    // Before the preview scales up: its confirm-rollout webhooks; once it is Ready: pre-rollout.
    if (webhooks.any) await webhooks.beforeRollout();
    await scaleNewRevision(pods);
    await Promise.all([pointService('preview', templateHash), labelPods(templateHash, 'preview')]);
    say(`${step('preview')}: waiting for ${pods} pods of r${revision} to be Ready`);
    await waitForPods(templateHash, pods, `wait for ${pods} preview pods Ready`);
    if (webhooks.any) await webhooks.preRollout();
  }

  async function runStep(which: BlueGreenStep): Promise<void> {
    switch (which) {
      case 'preview':
        return preview();
      case 'prePromotionAnalysis':
        if (!blueGreen.prePromotionAnalysis || gates.promotion?.full) return;
        say(`${step(which)}: pre-promotion analysis`);
        return analyses.analyseStep(blueGreen.prePromotionAnalysis, `${FIELD}.prePromotionAnalysis`, {
          statusKey: 'prePromotion',
          name: 'pre-promotion analysis',
        });
      case 'pause': {
        if (gates.promotion?.full) return;
        const seconds = pauseSeconds(blueGreen);
        return gates.pause(seconds === undefined ? {} : { duration: `${seconds}s` });
      }
      case 'switch':
        // Still abortable: the new revision gets all its pods before it becomes active.
        say(`${step(which)}: scaling r${revision} to ${run.replicas} pods before it becomes active`);
        await scaleNewRevision(run.replicas);
        await waitForPods(templateHash, run.replicas, `wait for ${run.replicas} pods Ready`);
        return;
      case 'postPromotionAnalysis':
        return;
    }
  }

  /** Runs the steps up to the switch; returns what interrupted them, or undefined when they all ran. */
  function stepsBeforeSwitch(): Promise<Interruption | undefined> {
    return gates.abortably(async () => {
      const rollbackHooks = webhooks.watchForRollback();
      try {
        for (const which of steps.slice(0, steps.indexOf('switch') + 1)) {
          state.currentStepIndex = steps.indexOf(which);
          if (webhooks.any && which !== 'preview') await webhooks.beforeStep();
          if (webhooks.any && which === 'switch') await webhooks.beforePromotion();
          await runStep(which);
        }
      } finally {
        rollbackHooks.stop();
      }
    });
  }

  /** The switch itself: no abort until the active Service is on one revision or the other. */
  async function switchToNewRevision(): Promise<Interruption | undefined> {
    gates.promoting = true;
    try {
      say(`${step('switch')}: switching the active Service to r${revision}`);
      await switchActiveTo(templateHash, run.replicas);
      switchedAt = Date.now();
    } catch (error) {
      if (isCancellation(error)) throw error;
      const problems = await switchBack();
      return {
        kind: 'abort',
        reason: `the switch failed: ${failureMessage(error)}${problems}`,
        eventReason: EventReason.PromotionFailed,
      };
    } finally {
      gates.promoting = false;
    }
    await labelPods(templateHash, 'active').catch((error: unknown) =>
      log.warn('could not label the active pods', { rollout: label, error: String(error) }),
    );
    rolloutLog.announce('upgraded');
    return undefined;
  }

  /** Judges the new revision on the traffic it now serves; a failure or an abort switches back. */
  async function postPromotion(): Promise<Interruption | undefined> {
    const analysis = blueGreen.postPromotionAnalysis;
    if (!analysis) return undefined;
    state.currentStepIndex = steps.indexOf('postPromotionAnalysis');
    say(`${step('postPromotionAnalysis')}: r${revision} active, post-promotion analysis`);
    const interrupted = await gates.abortably(() =>
      analyses.analyseStep(analysis, `${FIELD}.postPromotionAnalysis`, {
        statusKey: 'postPromotion',
        name: 'post-promotion analysis',
      }),
    );
    if (!interrupted || interrupted.kind === 'supersede') return interrupted;
    gates.promoting = true;
    const problems = await switchBack();
    gates.promoting = false;
    return { ...interrupted, reason: `${interrupted.reason}${problems}` };
  }

  /** Active for good: Healthy, and the previous revision's pods go once their delay is up. */
  function promoted(how = ''): RolloutState {
    state.stableTemplateHash = templateHash;
    state.currentStepIndex = steps.length;
    const by = gates.promotedBy ? ` (promoted by ${gates.promotedBy})` : '';
    rolloutLog.enterPhase('Healthy', `r${revision} is active${how}${by}`, EventReason.RolloutCompleted);
    rolloutLog.announce('published');
    if (previous && previous !== templateHash) {
      scaleDowns.later(previous, switchedAt + blueGreen.scaleDownDelaySeconds * 1000, 'previous active');
    }
    return state;
  }

  /** A newer revision came: what this one leaves to be scaled down goes to it. */
  function standDown(newer: number, message = `superseded by r${newer}`): RolloutState {
    gates.standingDown = true;
    state.message = message;
    rolloutLog.superseded();
    return state;
  }

  /**
   * After an abort: Degraded, the active Service on the previous revision, the preview Service pointed
   * back at it, and the new pods scaled down after abortScaleDownDelaySeconds (0: kept until a retry or
   * a newer revision). Returns the state to end with when a newer revision comes; undefined on a retry.
   */
  async function degraded(interrupted: Interruption): Promise<RolloutState | undefined> {
    const delay = blueGreen.abortScaleDownDelaySeconds * 1000;
    if (interrupted.kind === 'supersede') {
      if (previous) scaleDowns.later(templateHash, Date.now() + delay, 'new revision');
      return standDown(interrupted.revision);
    }
    let problems = '';
    if (previous && state.blueGreen?.previewSelector !== previous) {
      await CancellationScope.nonCancellable(async () => {
        try {
          await setWeights({ stable: 100, canary: 0 }, 'abort: all traffic on the active Service');
          await pointService('preview', previous ?? templateHash);
        } catch (error) {
          problems = `; then the preview Service could not be pointed back at ${previous}: ${failureMessage(error)}`;
        }
      });
    }
    const reason = `${interrupted.reason}${problems}`;
    rolloutLog.enterPhase('Degraded', reason, interrupted.eventReason ?? EventReason.RolloutAborted);
    rolloutLog.announce('rolledback', reason);
    // A first revision has nothing to go back to: its pods are kept for their owners to look into.
    if (previous && delay > 0) scaleDowns.later(templateHash, Date.now() + delay, 'new revision');
    await condition(() => gates.retryRequested || gates.superseded());
    const newer = gates.interruption;
    if (newer?.kind === 'supersede') {
      if (previous && !scaleDowns.has(templateHash))
        scaleDowns.later(templateHash, Date.now(), 'new revision');
      return standDown(newer.revision);
    }
    scaleDowns.callOff(templateHash);
    gates.retried();
    rolloutLog.failedAnalysis = undefined;
    state.currentStepIndex = 0;
    return undefined;
  }

  /** Sizes the pods to a new spec.replicas where the rollout is; the steps size the new revision themselves. */
  async function applyResize(): Promise<void> {
    const wanted = run.replicas;
    const active = state.blueGreen?.activeSelector;
    if (active) {
      await cluster.scaleReplicaSet.executeWithOptions({ summary: `resize active to ${wanted} pods` }, [
        { rollout, templateHash: active, replicas: wanted },
      ]);
    }
    rolloutLog.publishStatus(
      EventReason.Resized,
      'Normal',
      `resized to spec.replicas ${wanted}: active ${wanted}`,
    );
  }
  resizes.keepApplying(applyResize, leftToSuccessor);

  // --- the rollout ----------------------------------------------------------------------------------
  try {
    const result = await rollOut();
    if (scaleDowns.asked()) await scaleDowns.settle(leftToSuccessor);
    if (!leftToSuccessor() && state.phase === 'Healthy') {
      await cluster.pruneOldReplicaSets
        .executeWithOptions({ summary: 'prune old ReplicaSets' }, [
          { rollout, keepTemplateHashes: [templateHash] },
        ])
        .catch((error: unknown) =>
          log.warn('could not prune old ReplicaSets', { rollout: label, error: String(error) }),
        );
    }
    return result;
  } finally {
    if (resizes.applying) await CancellationScope.nonCancellable(() => condition(() => !resizes.applying));
    await rolloutLog.statusWrites;
    state.finishedWithCluster = true;
    await rolloutLog.announcementsSent;
    if (webhooks.any) await rolloutLog.webhooksSent;
    await successorAnswered();
  }

  async function rollOut(): Promise<RolloutState> {
    if (input.supersedes) {
      takeOverFrom(await predecessorClosed(input.supersedes), run, scaleDowns);
      previous = state.stableTemplateHash;
      state.blueGreen = { activeSelector: previous };
    }
    // A newer revision came while this one waited for its predecessor: it has nothing to undo.
    const early = gates.interruption;
    if (early?.kind === 'supersede') {
      return standDown(early.revision, `superseded by r${early.revision} before it started`);
    }
    rolloutLog.announce('deployed');
    if (!previous || previous === templateHash) return rollOutStraight();
    for (;;) {
      const fast = gates.attempt === 1 && (await stillRunning());
      const interrupted = fast
        ? ((await gates.abortably(() => startFastTrack())) ?? (await switchToNewRevision()))
        : ((await stepsBeforeSwitch()) ?? (await switchToNewRevision()) ?? (await postPromotion()));
      if (!interrupted) return promoted(fast ? ' again (fast-track rollback)' : '');
      if (interrupted.kind === 'supersede' && state.blueGreen?.activeSelector === templateHash) {
        // Superseded once active: the newer revision starts from this one, and scales down the one before.
        state.stableTemplateHash = templateHash;
        if (previous) {
          scaleDowns.later(previous, switchedAt + blueGreen.scaleDownDelaySeconds * 1000, 'previous active');
        }
        return standDown(interrupted.revision);
      }
      const ended = await degraded(interrupted);
      if (ended) return ended;
    }
  }

  /**
   * The previous template applied again while its pods still run at full size (within their
   * scaleDownDelaySeconds): it becomes active again at once, with no preview, pause or analysis.
   */
  async function stillRunning(): Promise<boolean> {
    const running = await cluster.readRevisionReplicaSet.executeWithOptions(
      { summary: `look for running pods of ${templateHash}` },
      [{ rollout, templateHash }],
    );
    return (
      running !== undefined && running.replicas >= run.replicas && running.availableReplicas >= run.replicas
    );
  }

  async function startFastTrack(): Promise<void> {
    state.currentStepIndex = steps.indexOf('switch');
    rolloutLog.enterPhase(
      'Progressing',
      `r${revision}'s pods are still running: switching back to them (fast-track rollback)`,
      EventReason.RolloutStarted,
    );
    // Takes the ReplicaSet over for this revision, as it is.
    await scaleNewRevision(run.replicas);
  }

  /** An app's first revision, or the active one again: all its pods Ready, then both Services on it. */
  async function rollOutStraight(): Promise<RolloutState> {
    const straight = previous ? 'already active' : 'first revision: straight to active';
    for (;;) {
      const interrupted = await gates.abortably(async () => {
        rolloutLog.enterPhase('Progressing', straight, EventReason.RolloutStarted);
        await scaleNewRevision(run.replicas);
        await waitForPods(templateHash, run.replicas, `wait for ${run.replicas} pods Ready`);
        await labelPods(templateHash, 'active');
        await pointService('active', templateHash, run.replicas);
        await pointService('preview', templateHash);
        await setWeights({ stable: 100, canary: 0 }, 'all traffic on the active Service');
      });
      if (!interrupted) return promoted();
      if (interrupted.kind === 'supersede') return standDown(interrupted.revision);
      const ended = await degraded(interrupted);
      if (ended) return ended;
    }
  }
}
