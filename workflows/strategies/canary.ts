import { CancellationScope, condition, isCancellation, log, patched } from '@temporalio/workflow';
import type { ManagedRouteStep } from '../../activities/managed-routes';
import type { ReplicaSetSummary } from '../../activities/rollout-activities';
import { EventReason, FAILURES_NAMING_THEIR_EVENT } from '../../reasons/rollout-reasons';
import { formatDuration } from '../../schemas/duration';
import type { CanaryStep, SetCanaryScale, TrafficWeights } from '../../schemas/rollout';
import { canaryPods, describeStep } from './canary-plan';
import type { CanaryJudge } from '../../schemas/analysis';
import type { JudgeCarryOver, QuietPoint, RolloutContinuation } from '../continue-as-new';
import type { CanaryRolloutInput, RolloutState } from '../rollout-api';
import { cluster, guards, readiness } from '../rollout-core/activity-options';
import { failureMessage, failureType, falseIfCanaryNotAvailable } from '../rollout-core/failures';
import type { Interruption } from '../rollout-core/gates';
import {
  CANARY_REPLICASET_FIRST,
  CANARY_SCALE_STEPS,
  DELAYED_SCALE_DOWN,
  EXTERNAL_WEIGHT_STEPS,
  FILL_BEFORE_FLIP,
  GUARD_CANARY_TRAFFIC,
  JUDGE_AGAINST_BASELINE,
  MANAGED_ROUTE_STEPS,
  PROMPT_ABORT,
  RESIZE_WITHOUT_REVISION,
  ROUTE_BEFORE_STATUS,
  ROUTE_WRITE_CHECKS_CANARY,
  SAFE_RETURN_TO_STABLE,
  SUPERSEDED_BEFORE_START,
  WEIGHTS_BY_REPLICAS,
} from '../rollout-core/patches';
import { predecessorClosed, successorAnswered, takeOverFrom } from '../rollout-core/predecessor';
import { rolloutParts } from '../rollout-core/rollout-parts';
import { RolloutRun } from '../rollout-core/rollout-run';
import { ExternalWeights } from './canary-external-weights';
import { startBackgroundJudge, type BackgroundJudge } from './canary-background-judge';
import { judgeAgainstBaseline } from './canary-judge-step';
import { CanaryTrafficGuard, type TrafficGuardHandle } from './canary-traffic-guard';
import {
  nextPodCounts,
  podsForWeight,
  routedBy,
  surgeLimits,
  weightsOfReadyPods,
  type PodCounts,
} from './canary-replica-weights';

/**
 * One revision of a Rollout, rolled out as a canary: for each step, set the canary's weight (its pods
 * Ready before any traffic reaches them) or pause; then promote the canary to stable. An abort sends
 * traffic back to stable and waits for a retry; a newer revision makes this one stand down.
 */
export async function canaryRollout(input: CanaryRolloutInput): Promise<RolloutState> {
  const { canary } = input;
  const steps = canary.steps;
  const run = new RolloutRun(input, steps.length);
  const { rollout, revision, templateHash, state, label } = run;
  /** Where the run before this one left off, until the steps take it up. */
  let resuming: RolloutContinuation | undefined = input.continued;
  /** No traffic router: each weight is approximated by the pods of each revision (a basic canary). */
  const byReplicas = canary.trafficRouting === undefined && patched(WEIGHTS_BY_REPLICAS);

  // What every strategy shares (rollout-core/): the log, the gates and their commands, the analyses,
  // resizes, delayed scale-downs and continuing as new at a quiet point.
  const { rolloutLog, gates, resizes, analyses, scaleDowns, quietPoints, webhooks, leftToSuccessor } =
    rolloutParts(run, {
      progress: () => [
        `weights: stable ${state.weights.stable}% / canary ${state.weights.canary}%`,
        ...steps.map((step, index) => {
          const mark = index < state.currentStepIndex ? '✓' : index === state.currentStepIndex ? '▶' : ' ';
          return `${mark} ${index + 1}. ${describeStep(step)}`;
        }),
      ],
      analyses: {
        background: canary.analysis && {
          analysis: canary.analysis,
          field: 'spec.strategy.canary.analysis',
          ...(canary.analysis.judge ? { judged: startJudge(canary.analysis.judge) } : {}),
        },
        canaryService: canary.canaryService ?? '',
        stableService: canary.stableService ?? '',
      },
      quiet: {
        busy: () => trafficGuard.trafficMoved || resizingCanary,
        carried: () => ({ canaryScale, canaryShare }),
      },
      webhooks: canary.webhooks,
    });

  /** The background analysis's judge while it runs; the steps wait for its baseline to go when they end. */
  let backgroundJudge: BackgroundJudge | undefined;
  function startJudge(judge: CanaryJudge) {
    return (resumed?: JudgeCarryOver) => {
      // One stopped by a promote past its hold may still be removing the baseline this one starts.
      const after = backgroundJudge?.cleanedUp;
      backgroundJudge = startBackgroundJudge({
        run,
        gates,
        judge,
        field: 'spec.strategy.canary.analysis.judge',
        canaryPods: () => canaryScale ?? 0,
        ...(resumed ? { resumed } : {}),
        ...(after ? { after } : {}),
      });
      return backgroundJudge;
    };
  }

  /** Steps `pause: { external: true }`: the setWeight Update sets the canary's weight during them. */
  const externalWeights = new ExternalWeights(run, gates, rolloutLog);
  externalWeights.register();

  // --- moving pods and traffic ----------------------------------------------------------------------
  /** Canary pods last asked for; a step that needs no more skips straight to checking they are Ready. */
  let canaryScale: number | undefined;
  /** The traffic share the canary's pods are sized for: 100 once it is filled to become stable. */
  let canaryShare = 0;
  /**
   * Canary pods asked for as the run started, ahead of its first step (which then only waits for
   * them); undefined once that step has taken them up.
   */
  let askedAhead: number | undefined;
  /** True while the steps scale the canary and wait for it: they size it to a resize themselves. */
  let canaryScaling = false;
  /** True while a resize scales the canary between steps: the next step waits for it. */
  let resizingCanary = false;
  /** True once the canary has all its pods Ready, ahead of the flip. */
  let filled = false;
  /**
   * The setCanaryScale in effect, which sizes the canary apart from its weight; undefined while its
   * pods follow the weight. Taken up from the steps already run when the run goes on as new.
   */
  let canaryScaleStep: SetCanaryScale | undefined = scaleStepBefore(state.currentStepIndex);

  /** Awaited by every traffic change, so the Services select the right pods before weights move. */
  let servicesPointed: Promise<void> = Promise.resolve();

  /** Guards the canary's traffic while the steps run (with the patch); absent otherwise. */
  let guard: TrafficGuardHandle | undefined;
  const trafficGuard = new CanaryTrafficGuard({
    run,
    gates,
    rolloutLog,
    canaryScale: () => canaryScale,
    servicesPointed: () => servicesPointed,
    writeWeights,
    waitForCanaryPods,
  });

  /** The canary's pods for `share`% of spec.replicas, all Ready; a resize meanwhile sizes them anew. */
  async function scaleCanaryAndWait(share: number): Promise<void> {
    const resizable = patched(RESIZE_WITHOUT_REVISION);
    if (resizingCanary) await condition(() => !resizingCanary);
    canaryShare = share;
    canaryScaling = true;
    try {
      for (;;) {
        const seen = resizes.asked;
        const canaryReplicas = canaryPodsFor(share);
        if (canaryReplicas !== canaryScale && canaryReplicas === askedAhead) {
          // Asked for as the run started: what is left is the wait for them.
          canaryScale = canaryReplicas;
        } else if (canaryReplicas !== canaryScale) {
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
        askedAhead = undefined;
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
    if (resizes.asked !== seen) return false;
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
    await condition(() => settled || resizes.asked !== seen);
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
    // Before more traffic reaches the canary: its pre-rollout and confirm-traffic-increase webhooks.
    if (webhooks.any) await webhooks.beforeTraffic(state.weights.canary, weights.canary);
    // The guard stands down first: the route has one writer at a time.
    const release = guard ? await guard.standDown() : undefined;
    try {
      await servicesPointed;
      // Without a router there is no route: the app's Service spreads traffic over the Ready pods.
      if (!byReplicas) await writeWeights(weights, summary, availableCanary);
      state.weights = weights;
    } finally {
      release?.();
    }
    rolloutLog.showDetails();
    if (publish) rolloutLog.publishStatus();
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
        ...routedBy(canary),
        weights,
        ...(availableCanary ? { availableCanary } : {}),
      },
    ]);
  }

  /** The canary's pods for `share`% of traffic, as the setCanaryScale in effect asks (canary-plan.ts). */
  function canaryPodsFor(share: number, replicas = run.replicas): number {
    return canaryPods(replicas, share, canaryScaleStep);
  }

  /** The setCanaryScale in effect before the step at `index`, if any. */
  function scaleStepBefore(index: number): SetCanaryScale | undefined {
    const scale = steps
      .slice(0, index)
      .reverse()
      .find((step) => step.setCanaryScale)?.setCanaryScale;
    return scale?.matchTrafficWeight ? undefined : scale;
  }

  /** A setCanaryScale step: the canary sized as it says for the traffic it has now, all Ready. */
  async function setCanaryScale(scale: SetCanaryScale): Promise<void> {
    if (!patched(CANARY_SCALE_STEPS)) return;
    canaryScaleStep = scale.matchTrafficWeight ? undefined : scale;
    await scaleCanaryAndWait(canaryShare);
  }

  /** Pods before traffic on the way up, traffic before pods on the way down: nothing unready is served. */
  async function setWeight(weight: number, statusAfterRoute = false): Promise<void> {
    if (byReplicas) return setWeightByReplicas(weight);
    const canaryReplicas = canaryPodsFor(weight);
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
        }).then(() => true, falseIfCanaryNotAvailable));
      if (!checkedByTheWrite) {
        // The pods are not all Ready after all: the status says what the step waits for.
        if (statusAfterRoute) rolloutLog.publishStatus();
        await scaleCanaryAndWait(weight);
        await routeTraffic(weights, `set weight ${weight}%`);
      }
      rolloutLog.announce('upgraded');
    } else {
      await routeTraffic(weights, `set weight ${weight}%`);
      rolloutLog.announce('upgraded');
      await scaleCanaryAndWait(weight);
    }
  }

  // --- managed routes -------------------------------------------------------------------------------
  /** True when a step may add a managed route, so the ends of the rollout take them away again. */
  const managesRoutes = steps.some((step) => step.setHeaderRoute || step.setMirrorRoute);

  /**
   * A `setHeaderRoute` or `setMirrorRoute` step: the route set (the canary's pods Ready first, at
   * least one, since the route sends requests to them whatever the weights) or, without `match`,
   * removed. The weights stay as they are.
   */
  async function setManagedRoute(step: CanaryStep): Promise<void> {
    const managed: ManagedRouteStep | undefined = step.setHeaderRoute
      ? { setHeaderRoute: step.setHeaderRoute }
      : step.setMirrorRoute && { setMirrorRoute: step.setMirrorRoute };
    if (!managed || !patched(MANAGED_ROUTE_STEPS)) return;
    const { name, match } = 'setHeaderRoute' in managed ? managed.setHeaderRoute : managed.setMirrorRoute;
    if (match) await scaleCanaryAndWait(Math.max(canaryShare, 1));
    await cluster.applyManagedRouteStep.executeWithOptions(
      { summary: `${match ? 'set' : 'remove'} managed route ${name}` },
      [{ ...routingTarget(), step: managed }],
    );
    rolloutLog.showDetails();
  }

  function routingTarget() {
    return { rollout, ...routedBy(canary) };
  }

  /**
   * Takes every managed route off the routes, the user's rules left as written; undefined when done
   * (or there were none to take), else what could not be done.
   */
  async function removeManagedRoutes(summary: string): Promise<string | undefined> {
    if (!managesRoutes || !patched(MANAGED_ROUTE_STEPS)) return undefined;
    try {
      await cluster.removeManagedRoutes.executeWithOptions({ summary }, [routingTarget()]);
      return undefined;
    } catch (error) {
      if (isCancellation(error)) throw error;
      return `the managed routes (rules named siirto.*) could not be taken off the routes: ${failureMessage(error)}`;
    }
  }

  // --- weights by pod counts, without a router ---------------------------------------------------------
  /** Stable pods last asked for while the steps move them; undefined means sized for canaryShare. */
  let stableScale: number | undefined;

  function podsNow(): PodCounts {
    return {
      canary: canaryScale ?? 0,
      stable: stableScale ?? podsForWeight(run.replicas, canaryShare).stable,
    };
  }

  function waitForStablePods(replicas: number, summary: string): Promise<ReplicaSetSummary> {
    return guards.waitForReplicaSetAvailable.executeWithOptions({ summary }, [
      {
        rollout,
        templateHash: state.stableTemplateHash ?? templateHash,
        replicas,
        deadlineSeconds: input.progressDeadlineSeconds,
      },
    ]);
  }

  /**
   * The canary's pods for `weight`% of spec.replicas (rounded up) and the stable's for the rest, moved
   * within maxSurge and maxUnavailable: pods added are Ready before any go. The weights reported are
   * those the Ready pods give.
   */
  async function setWeightByReplicas(weight: number): Promise<void> {
    if (webhooks.any) await webhooks.beforeTraffic(state.weights.canary, weight);
    const stableHash = state.stableTemplateHash ?? templateHash;
    const target = podsForWeight(run.replicas, weight);
    const limits = surgeLimits(canary, run.replicas);
    let at = podsNow();
    canaryShare = weight;
    for (let next = nextPodCounts(run.replicas, limits, at, target); next;) {
      if (next.canary !== at.canary) {
        await cluster.ensureReplicaSet.executeWithOptions(
          { summary: `scale canary to ${next.canary} pods` },
          [{ rollout, revision, templateHash, replicas: next.canary }],
        );
        canaryScale = next.canary;
      }
      if (next.stable !== at.stable) {
        await cluster.scaleReplicaSet.executeWithOptions({ summary: `scale stable to ${next.stable} pods` }, [
          { rollout, templateHash: stableHash, replicas: next.stable },
        ]);
        stableScale = next.stable;
      }
      if (next.canary > at.canary)
        await waitForCanaryPods(next.canary, `wait for ${next.canary} canary pods Ready`);
      if (next.stable > at.stable)
        await waitForStablePods(next.stable, `wait for ${next.stable} stable pods Ready`);
      at = next;
      next = nextPodCounts(run.replicas, limits, at, target);
    }
    // What is Ready now (a side asked for none may have no ReplicaSet yet: nothing to read). Pods over
    // the count asked for are terminating, and a terminating pod is no longer an endpoint.
    const [canaryReady, stableReady] = await Promise.all([
      at.canary > 0 && waitForCanaryPods(at.canary, `read ${at.canary} canary pods Ready`),
      at.stable > 0 && waitForStablePods(at.stable, `read ${at.stable} stable pods Ready`),
    ]);
    const ready = {
      canary: canaryReady ? Math.min(canaryReady.availableReplicas, at.canary) : 0,
      stable: stableReady ? Math.min(stableReady.availableReplicas, at.stable) : 0,
    };
    state.weights = weightsOfReadyPods(ready, { stable: 100 - weight, canary: weight });
    state.message = `${run.currentStep()}: ${weight}% asked, ${state.weights.canary}% by Ready pods (canary ${ready.canary}, stable ${ready.stable})`;
    rolloutLog.showDetails();
    rolloutLog.publishStatus();
    rolloutLog.announce('upgraded');
  }

  /** An abort's first move without a router: the stable back to full size, all Ready. */
  async function restoreStablePods(): Promise<void> {
    const stableHash = state.stableTemplateHash;
    if (!stableHash || stableHash === templateHash) return;
    await cluster.scaleReplicaSet.executeWithOptions({ summary: `scale stable to ${run.replicas} pods` }, [
      { rollout, templateHash: stableHash, replicas: run.replicas },
    ]);
    stableScale = run.replicas;
    await waitForStablePods(run.replicas, `wait for ${run.replicas} stable pods Ready`);
  }

  // --- the steps ------------------------------------------------------------------------------------
  async function runStep(step: CanaryStep, resumedInPause = false): Promise<void> {
    // A pause says so itself at once; the others may wait on pods or measurements first. A weight
    // the canary's pods are there for is written at once, and the status after it says so.
    const routeFirst = writesRouteFirst(step);
    if (!step.pause) {
      state.message = `${run.currentStep()}: ${describeStep(step)}`;
      rolloutLog.showDetails();
      if (!routeFirst) rolloutLog.publishStatus();
    }
    if (step.setWeight !== undefined) await setWeight(step.setWeight, routeFirst);
    else if (step.setHeaderRoute || step.setMirrorRoute) await setManagedRoute(step);
    else if (step.setCanaryScale) await setCanaryScale(step.setCanaryScale);
    else if (step.pause?.external && patched(EXTERNAL_WEIGHT_STEPS)) await externalWeights.runStep(setWeight);
    else if (step.pause) await gates.pause(step.pause, resumedInPause, () => nextStepWritesRouteFirst());
    else if (step.analysis?.judge && patched(JUDGE_AGAINST_BASELINE)) {
      await judgeAgainstBaseline({
        run,
        gates,
        rolloutLog,
        judge: step.analysis.judge,
        field: `spec.strategy.canary.steps[${state.currentStepIndex}].analysis.judge`,
        canaryPods: canaryScale ?? 0,
      });
    } else if (step.analysis) {
      await analyses.analyseStep(
        step.analysis,
        `spec.strategy.canary.steps[${state.currentStepIndex}].analysis`,
      );
    }
  }

  /**
   * True when `step` moves the weight up to what the canary's pods are already there for, with nothing
   * to ask first (a webhook): its route write goes out alone, and the status follows it.
   */
  function writesRouteFirst(step: CanaryStep | undefined): boolean {
    const weight = step?.setWeight;
    return (
      weight !== undefined &&
      !byReplicas &&
      !webhooks.any &&
      weight >= state.weights.canary &&
      canaryScale !== undefined &&
      canaryPodsFor(weight) === canaryScale &&
      patched(ROUTE_BEFORE_STATUS)
    );
  }

  /** As a pause ends: whether the step after it writes the status itself, right after the route. */
  function nextStepWritesRouteFirst(): boolean {
    return !gates.promotion?.full && writesRouteFirst(steps[state.currentStepIndex + 1]);
  }

  /** Runs the remaining steps; returns what interrupted them, or undefined when they all ran. */
  async function runSteps(): Promise<Interruption | undefined> {
    const guarded = patched(GUARD_CANARY_TRAFFIC);
    gates.abortable = new CancellationScope();
    try {
      await gates.abortable.run(async () => {
        const resumed = resuming;
        resuming = undefined;
        if (resumed) {
          // The run before started all this and said so; this one goes on where it waited, unless an
          // abort or a newer revision came as it started.
          if (gates.interruption) gates.abortable?.cancel();
          rolloutLog.showDetails();
          if (resumed.background) analyses.resumeBackground(resumed.background);
        } else {
          // The canary's pods are what a new revision waits for longest: asked for before anything
          // else, so the worker and the apiserver do nothing else meanwhile.
          const firstPods = podsOfFirstWeight();
          askedAhead = undefined;
          if (firstPods !== undefined && patched(CANARY_REPLICASET_FIRST)) {
            await cluster.ensureReplicaSet.executeWithOptions(
              { summary: `scale canary to ${firstPods} pods` },
              [{ rollout, revision, templateHash, replicas: firstPods }],
            );
            askedAhead = firstPods;
          }
          rolloutLog.enterPhase('Progressing', run.currentStep(), EventReason.RolloutStarted);
          rolloutLog.announce('deployed');
          // The Services are pointed while the first canary pods start; traffic waits for both.
          pointServices(state.stableTemplateHash ?? templateHash).catch(() => undefined);
          // Before the canary scales up: its confirm-rollout webhooks.
          if (webhooks.any) await webhooks.beforeRollout();
        }
        // Without a router there is no route to guard: unready canary pods are simply not endpoints.
        guard = guarded && !byReplicas ? trafficGuard.start() : undefined;
        const rollbackHooks = webhooks.watchForRollback();
        let resumedAt: QuietPoint | undefined = resumed?.at;
        try {
          for (const step of steps.slice(state.currentStepIndex)) {
            if (gates.promotion?.full) break;
            // Resumed, this step's background analysis and hold are as the run before left them.
            if (!resumedAt) analyses.startBackgroundFrom(state.currentStepIndex);
            if (resumedAt !== 'pause') await analyses.waitWhileHeld();
            if (!resumedAt && webhooks.any) await webhooks.beforeStep();
            await runStep(step, resumedAt === 'pause');
            resumedAt = undefined;
            state.currentStepIndex++;
          }
          await analyses.waitWhileHeld();
          if (webhooks.any) await webhooks.beforePromotion();
          await analyses.concludeBackground();
          // Still abortable, and guarded: the canary gets all its pods before it becomes stable.
          if (patched(FILL_BEFORE_FLIP)) await fillCanary();
        } finally {
          rollbackHooks.stop();
          // Promotion and the return to stable move the traffic with no guard left to stand down.
          if (guard) await guard.stop();
          guard = undefined;
        }
      });
      return undefined;
    } catch (error) {
      return gates.interruptionBehind(error);
    } finally {
      gates.abortable = undefined;
      analyses.background = undefined;
      gates.holds.clear();
      // The background judge's baseline is gone (or handed over) before the traffic moves again.
      const judge = backgroundJudge;
      backgroundJudge = undefined;
      if (judge) {
        judge.cancel();
        await CancellationScope.nonCancellable(() => judge.cleanedUp);
      }
    }
  }

  /**
   * The canary's pods the steps ask for first, when they start with a setWeight through a router and
   * nothing (a confirm-rollout webhook) must be asked before; undefined otherwise.
   */
  function podsOfFirstWeight(): number | undefined {
    const weight = steps[state.currentStepIndex]?.setWeight;
    if (weight === undefined || byReplicas || webhooks.any || (canaryScale ?? 0) > 0) return undefined;
    const pods = canaryPodsFor(weight);
    return pods > 0 ? pods : undefined;
  }

  async function fillCanary(): Promise<void> {
    // Without a router and without setWeight steps, the pods roll as a Deployment's would.
    if (byReplicas && !steps.some((step) => step.setWeight !== undefined)) await setWeightByReplicas(100);
    if (canaryScale !== run.replicas) {
      state.message = `promoting: scaling the canary to ${run.replicas} pods before it becomes stable`;
      rolloutLog.showDetails();
      rolloutLog.publishStatus();
    }
    await scaleCanaryAndWait(100);
    filled = true;
  }

  function pointServices(stableHash: string): Promise<void> {
    const { stableService, canaryService } = canary;
    // Without a router either may be left out: the app's own Service then carries the traffic.
    servicesPointed = Promise.all([
      stableService &&
        cluster.pointServiceAtRevision.executeWithOptions({ summary: `stable Service → ${stableHash}` }, [
          { rollout, service: stableService, templateHash: stableHash },
        ]),
      canaryService &&
        cluster.pointServiceAtRevision.executeWithOptions({ summary: `canary Service → ${templateHash}` }, [
          { rollout, service: canaryService, templateHash },
        ]),
    ]).then(() => undefined);
    return servicesPointed;
  }

  // --- promotion ------------------------------------------------------------------------------------
  /** The canary becomes stable: all its pods Ready, the stable Service on it, then 100/0 on the new stable. */
  async function promoteToStable(): Promise<void> {
    gates.promoting = true;
    const previousStable = state.stableTemplateHash;
    if (!filled) await scaleCanaryAndWait(100);
    await pointServices(templateHash);
    await routeTraffic({ stable: 100, canary: 0 }, 'set weight 100% on new stable');
    state.stableTemplateHash = templateHash;
    // After the flip, so requests a header route sent to the new revision never go back to the old.
    const routesLeft = await removeManagedRoutes('remove managed routes');
    state.currentStepIndex = steps.length;
    const by = gates.promotedBy ? ` (promoted by ${gates.promotedBy})` : '';
    rolloutLog.enterPhase('Healthy', `r${revision} is stable${by}`, EventReason.RolloutCompleted);
    if (routesLeft) {
      state.message = `${state.message}; ${routesLeft}: remove them by hand`;
      rolloutLog.showDetails();
      rolloutLog.publishStatus(EventReason.ManagedRoutesNotRemoved, 'Warning');
    }
    rolloutLog.announce('published');
    if (previousStable && previousStable !== templateHash) {
      const delay = canary.scaleDownDelaySeconds * 1000;
      const keptUntil = Date.now() + delay;
      // A newer revision waits for this workflow to close, so it cuts the delay short.
      await condition(() => gates.superseded(), delay, {
        summary: `keep old stable pods ${formatDuration(delay)}`,
      });
      if (gates.superseded() && patched(DELAYED_SCALE_DOWN)) {
        // ... and scales them down when their time is up.
        scaleDowns.later(previousStable, keptUntil, 'old stable');
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
      gates.promoting = false;
      if (state.stableTemplateHash === templateHash) {
        state.message = `${state.message}; the old stable's pods could not be scaled down: ${failureMessage(error)}`;
        rolloutLog.showDetails();
        rolloutLog.publishStatus(EventReason.OldStableNotScaledDown, 'Warning');
        return undefined;
      }
      if (previousStable) {
        await CancellationScope.nonCancellable(() => pointServices(previousStable)).catch(() => undefined);
      }
      const type = failureType(error);
      return {
        kind: 'abort',
        reason: `promotion failed: ${failureMessage(error)}`,
        eventReason: FAILURES_NAMING_THEIR_EVENT.includes(type ?? '') ? type : EventReason.PromotionFailed,
      };
    }
  }

  // --- back to stable -------------------------------------------------------------------------------
  /**
   * Traffic back to stable first, then the canary's pods go. Each part is tried whatever became of the
   * other (with the patch); returns what could not be restored, for the phase that follows to say.
   */
  async function returnToStable(summary: string, keepCanary = false): Promise<string[]> {
    const problems: string[] = [];
    const toStable = { stable: 100, canary: 0 };
    if (byReplicas) {
      try {
        await restoreStablePods();
      } catch (error) {
        problems.push(
          `the stable's pods could not be brought back to ${run.replicas}: ${failureMessage(error)}`,
        );
      }
    }
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
    // A header route sends its requests to the canary whatever the weights: it goes too.
    const routesLeft = await removeManagedRoutes('remove managed routes');
    if (routesLeft) problems.push(routesLeft);
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

  const abortScaleDownDelay = (canary.abortScaleDownDelaySeconds ?? 30) * 1000;

  /**
   * A first revision, or the stable one again: all its pods Ready, then stable. A failure before that
   * leaves it Degraded with its pods kept for their owners to look into (there is nothing older to go
   * back to) until a retry or a newer revision.
   */
  async function rollOutWithoutSteps(straight: string): Promise<RolloutState> {
    for (;;) {
      const interrupted =
        (await gates.abortably(async () => {
          await scaleCanaryAndWait(100);
          filled = true;
        })) ?? (await promoteToStableOrAbort());
      if (!interrupted) return state;
      if (interrupted.kind === 'supersede') return standDownUnpromoted(interrupted.revision);
      rolloutLog.enterPhase(
        'Degraded',
        interrupted.reason,
        interrupted.eventReason ?? EventReason.RolloutAborted,
      );
      rolloutLog.announce('rolledback', interrupted.reason);
      await condition(() => gates.retryRequested || gates.superseded());
      const newer = gates.interruption;
      if (newer?.kind === 'supersede') return standDownUnpromoted(newer.revision);
      gates.retried();
      filled = false;
      rolloutLog.enterPhase('Progressing', `retried: ${straight}`);
    }
  }

  /** A newer revision came before this one became stable: its pods, if it is a first, go with it. */
  function standDownUnpromoted(newer: number): RolloutState {
    gates.standingDown = true;
    if (!state.stableTemplateHash) scaleDowns.later(templateHash, Date.now(), 'unpromoted canary');
    state.message = `superseded by r${newer}`;
    rolloutLog.superseded();
    return state;
  }

  // --- resizing without a new revision --------------------------------------------------------------
  /**
   * Sizes the pods to spec.replicas where the rollout is: the stable at full size, the canary at its
   * share of it (while the steps wait for the canary's pods, they size it themselves). The traffic
   * weights stay as they are: they are shares, whatever the pods behind them.
   */
  async function applyResize(): Promise<void> {
    const wanted = run.replicas;
    const stable = state.stableTemplateHash;
    const sized: string[] = [];
    if (stable && stable !== templateHash) {
      // Without a router the stable's pods are the rest of the weight, until an abort restores them.
      const stablePods =
        byReplicas && state.phase !== 'Degraded' ? podsForWeight(wanted, canaryShare).stable : wanted;
      await cluster.scaleReplicaSet.executeWithOptions({ summary: `resize stable to ${stablePods} pods` }, [
        { rollout, templateHash: stable, replicas: stablePods },
      ]);
      if (byReplicas) stableScale = stablePods;
      sized.push(`stable ${stablePods}`);
    }
    // An aborted canary's pods are on their way out, or kept as they were for their owners to look into.
    if ((canaryScale ?? 0) > 0 && state.phase !== 'Degraded') {
      const pods = canaryPodsFor(canaryShare, wanted);
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
    rolloutLog.publishStatus(EventReason.Resized, 'Normal', `resized to spec.replicas ${wanted}: ${what}`);
  }

  resizes.keepApplying(applyResize, leftToSuccessor);

  // --- the rollout ----------------------------------------------------------------------------------
  try {
    const result = await rollOut();
    if (scaleDowns.asked()) await scaleDowns.settle(leftToSuccessor);
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
    try {
      if (input.continued) {
        // Takes up the rest of where the run before left off (its state and commands are taken up first).
        canaryScale = input.continued.canaryScale;
        canaryShare = input.continued.canaryShare ?? 0;
        quietPoints.takeUp(input.continued);
      } else if (input.supersedes) {
        takeOverFrom(await predecessorClosed(input.supersedes), run, scaleDowns);
      }
      // A newer revision came while this one waited for its predecessor: it has nothing to undo.
      const early = gates.interruption;
      if (early?.kind === 'supersede' && !input.continued && patched(SUPERSEDED_BEFORE_START)) {
        state.message = `superseded by r${early.revision} before it started`;
        rolloutLog.superseded();
        return state;
      }
      const stable = state.stableTemplateHash;
      if (!stable || stable === templateHash) {
        // An app's first revision, or a return to the revision already stable: nothing to compare against,
        // so no step runs.
        state.currentStepIndex = steps.length;
        const straight = stable ? 'already stable' : 'first revision: straight to 100%';
        rolloutLog.enterPhase('Progressing', straight);
        rolloutLog.announce('deployed');
        if (patched(FILL_BEFORE_FLIP)) return await rollOutWithoutSteps(straight);
        await promoteToStable();
        return state;
      }
      for (;;) {
        const interrupted = (await runSteps()) ?? (await promoteToStableOrAbort());
        if (!interrupted) return state;
        // Without a router the canary's pods are endpoints of the user's own Service until they go:
        // kept for a delay they would go on serving, so they go at once (as Argo Rollouts' basic canary).
        const delayed = patched(DELAYED_SCALE_DOWN) && !byReplicas;
        if (interrupted.kind === 'supersede') {
          const problems = await CancellationScope.nonCancellable(() =>
            returnToStable(`superseded by r${interrupted.revision}: traffic to stable`, delayed),
          );
          gates.standingDown = true;
          if (delayed) scaleDowns.later(templateHash, Date.now() + abortScaleDownDelay, 'canary');
          state.message = degradedMessage(`superseded by r${interrupted.revision}`, problems);
          rolloutLog.superseded();
          return state;
        }
        const problems = await CancellationScope.nonCancellable(() =>
          returnToStable('abort: traffic back to stable', delayed),
        );
        const reason = degradedMessage(interrupted.reason, problems);
        rolloutLog.enterPhase('Degraded', reason, interrupted.eventReason ?? EventReason.RolloutAborted);
        rolloutLog.announce('rolledback', reason);
        // 0 keeps the canary's pods until a retry or a newer revision.
        if (delayed && abortScaleDownDelay > 0)
          scaleDowns.later(templateHash, Date.now() + abortScaleDownDelay, 'canary');
        await condition(() => gates.retryRequested || gates.superseded());
        if (gates.superseded()) {
          gates.standingDown = true;
          if (delayed && canaryScale !== 0 && !scaleDowns.has(templateHash))
            scaleDowns.later(templateHash, Date.now(), 'canary');
          rolloutLog.superseded();
          return state;
        }
        // The retry wants the canary's pods again: a scale-down not begun is called off, and the first
        // step scales the canary whatever became of one begun.
        scaleDowns.callOff(templateHash);
        if (delayed) canaryScale = undefined;
        gates.retried();
        rolloutLog.failedAnalysis = undefined;
        filled = false;
        state.currentStepIndex = 0;
        canaryScaleStep = undefined;
      }
    } catch (error) {
      if (isCancellation(error)) {
        // The Rollout was deleted: its ReplicaSets go with it, so only the traffic needs a last word.
        await CancellationScope.nonCancellable(async () => {
          await routeTraffic({ stable: 100, canary: 0 }, 'cancelled: traffic to stable', false).catch(
            () => undefined,
          );
          await removeManagedRoutes('cancelled: remove managed routes');
        });
      }
      throw error;
    }
  }
}
