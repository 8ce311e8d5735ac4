import { CancellationScope, condition, isCancellation, log, patched, setHandler } from '@temporalio/workflow';
import type { ExperimentCounts } from '../../activities/experiment-counts';
import {
  differenceInterval,
  verdictOf,
  type DifferenceInterval,
  type ProportionSample,
} from '../../analysis/statistics/sequential-test';
import { describeInterval, guardrailBreach, type GuardrailName } from './ab-testing-guardrails';
import { EventReason } from '../../reasons/rollout-reasons';
import { formatDuration, parseDuration } from '../../schemas/duration';
import type { TrafficWeights } from '../../schemas/rollout';
import {
  concludeSignal,
  concludeUpdate,
  type AbTestingRolloutInput,
  type ConcludeRequest,
  type RolloutState,
} from '../rollout-api';
import { historyTooLong } from '../continue-as-new';
import { cluster, experiments, guards } from '../rollout-core/activity-options';
import { failureMessage, permanentFailure } from '../rollout-core/failures';
import type { Interruption } from '../rollout-core/gates';
import { AB_EXPERIMENT_CONTINUE_AS_NEW } from '../rollout-core/patches';
import { predecessorClosed, takeOverFrom } from '../rollout-core/predecessor';
import { rolloutParts } from '../rollout-core/rollout-parts';
import { RolloutRun } from '../rollout-core/rollout-run';
import {
  AB_TESTING_STEPS,
  describeAbTestingStep,
  describeMatch,
  variantBRoute,
  type AbTestingStep,
  type ExperimentCarryOver,
} from './ab-testing-plan';

const FIELD = 'spec.strategy.abTesting';

/** How an experiment ended when nothing interrupted it: B promoted, or A kept. */
type Decision =
  | { winner: 'B'; why: string }
  | { winner: 'A'; why: string; eventReason: string; warning: boolean; guardrail?: GuardrailName };

/**
 * One revision of a Rollout, rolled out as an A/B experiment: variant B (the new revision) runs beside
 * variant A (the stable one) at full size; the requests the match names go to B, the rest by
 * variantBWeight. Every interval the workflow counts each variant's successes and trials and computes
 * an anytime-valid confidence interval for B's success rate minus A's, so the verdict stands however
 * often it looks. After minDuration and minSampleSize per variant: B better → B promoted as a canary
 * is (all traffic to it, A's pods scaled down); A better, or no difference by maxDuration → B removed,
 * the stable unchanged, and the Rollout Degraded until a retry or a newer revision. A guardrail breach
 * stops B at once. A person may conclude instead (the `conclude` signal or Update).
 */
export async function abTestingRollout(input: AbTestingRolloutInput): Promise<RolloutState> {
  const { abTesting } = input;
  const { analysis } = abTesting;
  const steps = AB_TESTING_STEPS;
  const run = new RolloutRun(input, steps.length);
  const { rollout, revision, templateHash, state, label } = run;
  const routing = {
    rollout,
    trafficRouting: abTesting.trafficRouting,
    stableService: abTesting.variantAService,
    canaryService: abTesting.variantBService,
    field: FIELD,
    roles: { stable: 'variant A', canary: 'variant B' },
  };
  const intervalMs = parseDuration(analysis.interval) ?? 30_000;
  const minDurationMs = parseDuration(analysis.minDuration) ?? 0;
  const maxDurationMs = parseDuration(abTesting.maxDuration) ?? 3_600_000;
  const splitWeights: TrafficWeights = {
    stable: 100 - abTesting.variantBWeight,
    canary: abTesting.variantBWeight,
  };

  /** The experiment as the next run takes it up, while this one gets ready to continue as new. */
  let carrying: ExperimentCarryOver | undefined;
  const { rolloutLog, gates, resizes, scaleDowns, quietPoints, leftToSuccessor } = rolloutParts(run, {
    progress: () => [
      `weights: A ${state.weights.stable}% / B ${state.weights.canary}% (and ${describeMatch(abTesting.variantBMatch)} to B while the experiment runs)`,
      ...experimentLines(),
      ...steps.map((step, index) => {
        const mark = index < state.currentStepIndex ? '✓' : index === state.currentStepIndex ? '▶' : ' ';
        return `${mark} ${index + 1}. ${describeAbTestingStep(step, abTesting)}`;
      }),
    ],
    analyses: { canaryService: abTesting.variantBService, stableService: abTesting.variantAService },
    // Quiet only between two looks, where it gets ready to continue as new (continue-as-new.ts), and
    // only while no verdict of a person's waits to be acted on.
    quiet: {
      busy: () => carrying === undefined || concluded !== undefined || gates.promotion?.full === true,
      carried: () => (carrying ? { experiment: carrying } : {}),
    },
  });

  // --- a person's verdict -----------------------------------------------------------------------------
  /** True while the experiment runs: a person may conclude it then, and only then. */
  let experimenting = false;
  let concluded: ConcludeRequest | undefined;
  function refuseConclude(request: ConcludeRequest): void {
    if (request.winner !== 'A' && request.winner !== 'B') {
      throw new Error(`winner ${JSON.stringify(request.winner)} is neither A nor B: name A or B`);
    }
    if (gates.interruption) throw new Error(`nothing to conclude: ${label} is being aborted or superseded`);
    if (!experimenting) {
      throw new Error(`nothing to conclude: ${label} is ${state.phase}, with no experiment running`);
    }
    if (concluded)
      throw new Error(`nothing to conclude: ${label} is already concluded (${concluded.winner})`);
  }
  setHandler(concludeSignal, (request) => {
    try {
      refuseConclude(request);
      concluded = request;
    } catch (refusal) {
      log.warn('conclude signal ignored', { rollout: label, reason: String(refusal) });
    }
  });
  setHandler(
    concludeUpdate,
    (request) => {
      concluded = request;
      return state;
    },
    { validator: refuseConclude },
  );

  /** The previous stable revision: variant A. */
  let variantA = state.stableTemplateHash;

  // --- the rollout log, as an experiment says it ------------------------------------------------------
  function experimentLines(): string[] {
    const experiment = state.experiment;
    if (!experiment?.variantA || !experiment.variantB) return [];
    const rate = ({ successes, trials }: ProportionSample) =>
      `${successes}/${trials}${trials > 0 ? ` = ${(successes / trials).toFixed(3)}` : ''}`;
    return [
      `A: ${rate(experiment.variantA)} · B: ${rate(experiment.variantB)} · look ${experiment.looks ?? 0}`,
      ...(experiment.estimate !== undefined &&
      experiment.lower !== undefined &&
      experiment.upper !== undefined
        ? [
            describeInterval({
              estimate: experiment.estimate,
              lower: experiment.lower,
              upper: experiment.upper,
              confidenceLevel: experiment.confidenceLevel ?? analysis.confidenceLevel,
            }) + ` → ${experiment.verdict ?? 'undecided'}`,
          ]
        : []),
    ];
  }

  function say(message: string): void {
    state.message = message;
    rolloutLog.showDetails();
    rolloutLog.publishStatus();
  }
  const step = (which: AbTestingStep) => `step ${steps.indexOf(which) + 1}/${steps.length}`;

  // --- pods, Services and the route -------------------------------------------------------------------
  async function pointService(service: string, hash: string, availableReplicas?: number): Promise<void> {
    const role = service === abTesting.variantAService ? 'variantAService' : 'variantBService';
    await cluster.pointServiceAtRevision.executeWithOptions({ summary: `Service ${service} → ${hash}` }, [
      {
        rollout,
        service,
        templateHash: hash,
        field: `${FIELD}.${role}`,
        ...(availableReplicas === undefined ? {} : { availableReplicas }),
      },
    ]);
  }

  async function setWeights(weights: TrafficWeights, summary: string, availableB?: number): Promise<void> {
    await cluster.setTrafficWeights.executeWithOptions({ summary }, [
      {
        ...routing,
        weights,
        ...(availableB === undefined ? {} : { availableCanary: { templateHash, replicas: availableB } }),
      },
    ]);
    state.weights = weights;
  }

  function waitForPods(hash: string, pods: number, summary: string): Promise<unknown> {
    return guards.waitForReplicaSetAvailable.executeWithOptions({ summary }, [
      { rollout, templateHash: hash, replicas: pods, deadlineSeconds: input.progressDeadlineSeconds },
    ]);
  }

  /** True while Siirto's rule for B may be on the route: every end of the experiment takes it off. */
  let routeSet = false;

  /** Takes Siirto's rule for B off the route; '' when done, else what could not be done. */
  async function removeVariantBRoute(summary: string): Promise<string> {
    if (!routeSet) return '';
    try {
      await cluster.removeManagedRoutes.executeWithOptions({ summary }, [routing]);
      routeSet = false;
      return '';
    } catch (error) {
      if (isCancellation(error)) throw error;
      return `; then the rule for B (named siirto.*) could not be taken off the route: ${failureMessage(error)}: remove it by hand`;
    }
  }

  // --- the experiment ---------------------------------------------------------------------------------
  /** Counts, interval and verdict, published with every look. */
  function record(
    counts: ExperimentCounts,
    interval: DifferenceInterval | undefined,
    verdict: string,
    looks: number,
    guardrail?: GuardrailName,
  ) {
    state.experiment = {
      variantA: { successes: counts.A.successes, trials: counts.A.trials },
      variantB: { successes: counts.B.successes, trials: counts.B.trials },
      ...(interval
        ? {
            estimate: interval.estimate,
            lower: interval.lower,
            upper: interval.upper,
            confidenceLevel: interval.confidenceLevel,
          }
        : {}),
      looks,
      verdict,
      ...(guardrail ? { guardrail } : {}),
    };
  }

  /**
   * Runs the experiment to its verdict; an abort or a newer revision cuts it short (gates.ts). `resumed`:
   * the run before continued as new between two looks, with B's pods and rule in place.
   */
  async function experiment(resumed?: ExperimentCarryOver): Promise<Decision> {
    const previous = resumed?.variantA ?? variantA ?? templateHash;
    if (resumed) {
      return await lookUntilVerdict(previous, resumed.startedAt, resumed.looks + 1);
    }
    state.currentStepIndex = steps.indexOf('variantB');
    state.experiment = undefined;
    rolloutLog.enterPhase(
      'Progressing',
      `${step('variantB')}: variant B (r${revision}) to ${run.replicas} pods beside A`,
      EventReason.RolloutStarted,
    );
    rolloutLog.announce('deployed');
    await Promise.all([
      pointService(abTesting.variantAService, previous),
      pointService(abTesting.variantBService, templateHash),
    ]);
    await cluster.ensureReplicaSet.executeWithOptions(
      { summary: `scale variant B to ${run.replicas} pods` },
      [{ rollout, revision, templateHash, replicas: run.replicas }],
    );
    await waitForPods(templateHash, run.replicas, `wait for ${run.replicas} pods of B Ready`);

    state.currentStepIndex = steps.indexOf('experiment');
    // The weights first, checked against B's pods in the same write; then the rule for B.
    await setWeights(
      splitWeights,
      `weights A ${splitWeights.stable}% / B ${splitWeights.canary}%`,
      run.replicas,
    );
    routeSet = true;
    await cluster.applyManagedRouteStep.executeWithOptions(
      { summary: `${describeMatch(abTesting.variantBMatch)} to B` },
      [{ ...routing, step: { setHeaderRoute: variantBRoute(abTesting.variantBMatch) } }],
    );
    const startedAt = Date.now();
    say(`${step('experiment')}: experiment running, first look in ${formatDuration(intervalMs)}`);
    return await lookUntilVerdict(previous, startedAt, 1);
  }

  /** Looks at the counts every interval from look `first` on, until a verdict, a guardrail or a person. */
  async function lookUntilVerdict(previous: string, startedAt: number, first: number): Promise<Decision> {
    experimenting = true;
    try {
      for (let looks = first; ; looks++) {
        const elapsed = () => Date.now() - startedAt;
        const wait = Math.min(intervalMs, Math.max(0, maxDurationMs - elapsed()));
        await condition(() => concluded !== undefined || gates.promotion?.full === true, wait, {
          summary: `look ${looks} in ${formatDuration(wait)}`,
        });
        if (concluded) {
          const by = concluded.by ? ` by ${concluded.by}` : '';
          return concluded.winner === 'B'
            ? { winner: 'B', why: `concluded${by}: B wins` }
            : {
                winner: 'A',
                why: `concluded${by}: A wins`,
                eventReason: EventReason.ExperimentConcluded,
                warning: false,
              };
        }
        if (gates.promotion?.full) return { winner: 'B', why: 'promoted before a verdict' };
        let counts: ExperimentCounts;
        try {
          counts = await experiments.countExperiment.executeWithOptions(
            { summary: `look ${looks}: count A and B over ${formatDuration(elapsed())}` },
            [
              {
                rollout,
                analysis,
                field: `${FIELD}.analysis`,
                hashes: { A: previous, B: templateHash },
                elapsedSeconds: elapsed() / 1000,
              },
            ],
          );
        } catch (error) {
          if (isCancellation(error) || permanentFailure(error)) throw error;
          // Prometheus could not answer: the next look counts from the start again.
          log.warn('look skipped', { rollout: label, error: String(error) });
          say(`${step('experiment')}: look ${looks} skipped: ${failureMessage(error)}`);
          if (elapsed() >= maxDurationMs) {
            return {
              winner: 'A',
              why: `no difference by maxDuration ${abTesting.maxDuration}: the last look could not count`,
              eventReason: EventReason.ExperimentConcluded,
              warning: false,
            };
          }
          continue;
        }
        const breach = guardrailBreach(analysis, counts);
        const counted = counts.A.trials > 0 && counts.B.trials > 0;
        const interval = counted
          ? differenceInterval(counts.A, counts.B, analysis.confidenceLevel, {
              tunedForTrials: analysis.minSampleSize,
            })
          : undefined;
        const ripe =
          elapsed() >= minDurationMs &&
          counts.A.trials >= analysis.minSampleSize &&
          counts.B.trials >= analysis.minSampleSize;
        const verdict = interval ? verdictOf(interval) : 'undecided';
        const over = elapsed() >= maxDurationMs;
        const outcome = breach
          ? 'guardrail'
          : ripe && verdict !== 'undecided'
            ? verdict
            : over
              ? 'no difference'
              : 'undecided';
        record(counts, interval, outcome, looks, breach?.guardrail);
        const where = interval ? describeInterval(interval) : 'no trials of both yet';
        log.info('experiment look', { rollout: label, looks, counts, interval, outcome });
        if (breach) {
          return {
            winner: 'A',
            why: breach.why,
            eventReason: EventReason.GuardrailBreached,
            warning: true,
            guardrail: breach.guardrail,
          };
        }
        const figures = `A ${counts.A.successes}/${counts.A.trials}, B ${counts.B.successes}/${counts.B.trials}; ${where}`;
        if (outcome === 'B wins') return { winner: 'B', why: `B wins: ${figures}` };
        if (outcome === 'A wins') {
          return {
            winner: 'A',
            why: `A wins: ${figures}`,
            eventReason: EventReason.ExperimentConcluded,
            warning: false,
          };
        }
        if (outcome === 'no difference') {
          return {
            winner: 'A',
            why: `no difference by maxDuration ${abTesting.maxDuration}: ${figures}`,
            eventReason: EventReason.ExperimentConcluded,
            warning: false,
          };
        }
        const waiting = ripe
          ? 'undecided'
          : `undecided until ${abTesting.analysis.minDuration} and ${analysis.minSampleSize} trials each`;
        say(`${step('experiment')}: look ${looks}: ${figures}; ${waiting}`);
        if (historyTooLong(input.historyLimit) && patched(AB_EXPERIMENT_CONTINUE_AS_NEW)) {
          // Between two looks: returns only if a verdict of a person, an abort or a newer revision came.
          carrying = { startedAt, looks, variantA: previous };
          try {
            await quietPoints.continueAsNewAt('experiment');
          } finally {
            carrying = undefined;
          }
        }
      }
    } finally {
      experimenting = false;
    }
  }

  /** B becomes stable: A's Service on B's pods, all traffic to it, the rule for B off, A's pods go later. */
  async function promoteB(why: string): Promise<RolloutState> {
    gates.promoting = true;
    state.currentStepIndex = steps.indexOf('verdict');
    say(`${step('verdict')}: ${why}; promoting B`);
    await pointService(abTesting.variantAService, templateHash, run.replicas);
    await setWeights({ stable: 100, canary: 0 }, 'all traffic to B, now stable');
    state.stableTemplateHash = templateHash;
    // After the flip, so requests the rule sent to B never go back to A.
    const left = await removeVariantBRoute('remove the rule for B');
    gates.promoting = false;
    state.currentStepIndex = steps.length;
    const by = gates.promotedBy ? ` (promoted by ${gates.promotedBy})` : '';
    rolloutLog.enterPhase(
      'Healthy',
      `r${revision} is stable: ${why}${by}${left}`,
      EventReason.RolloutCompleted,
    );
    rolloutLog.announce('published', why);
    if (variantA && variantA !== templateHash) {
      scaleDowns.later(variantA, Date.now() + abTesting.scaleDownDelaySeconds * 1000, 'variant A');
    }
    return state;
  }

  /**
   * All traffic back to A and the rule for B off, each tried whatever became of the other; B's pods go
   * after abortScaleDownDelaySeconds. Returns what could not be done, for the message.
   */
  async function backToA(summary: string): Promise<string> {
    return CancellationScope.nonCancellable(async () => {
      let problems = '';
      try {
        await setWeights({ stable: 100, canary: 0 }, summary);
      } catch (error) {
        problems += `; then traffic could not be moved back to A: ${failureMessage(error)}`;
      }
      problems += await removeVariantBRoute('remove the rule for B');
      if (variantA && variantA !== templateHash) {
        scaleDowns.later(templateHash, Date.now() + abTesting.abortScaleDownDelaySeconds * 1000, 'variant B');
      }
      return problems;
    });
  }

  function standDown(newer: number, message = `superseded by r${newer}`): RolloutState {
    gates.standingDown = true;
    state.message = message;
    rolloutLog.superseded();
    return state;
  }

  /** Spec.replicas changed: A at full size, and B too while it runs beside it. */
  async function applyResize(): Promise<void> {
    const wanted = run.replicas;
    const sized: string[] = [];
    for (const [hash, what] of [
      [state.stableTemplateHash, 'A'],
      [experimenting ? templateHash : undefined, 'B'],
    ] as const) {
      if (!hash) continue;
      await cluster.scaleReplicaSet.executeWithOptions({ summary: `resize ${what} to ${wanted} pods` }, [
        { rollout, templateHash: hash, replicas: wanted },
      ]);
      sized.push(`${what} ${wanted}`);
    }
    rolloutLog.publishStatus(
      EventReason.Resized,
      'Normal',
      `resized to spec.replicas ${wanted}: ${sized.join(', ') || 'no pods to resize yet'}`,
    );
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
  }

  async function rollOut(): Promise<RolloutState> {
    try {
      let resuming = input.continued?.experiment;
      if (input.continued) {
        // Takes up the rest of where the run before left off (its state and commands are taken up first).
        quietPoints.takeUp(input.continued);
        // Between two looks: B's rule is on the route, whatever ends the experiment takes it off.
        if (resuming) routeSet = true;
      } else if (input.supersedes) {
        takeOverFrom(await predecessorClosed(input.supersedes), run, scaleDowns);
        variantA = state.stableTemplateHash;
      }
      const early = gates.interruption;
      if (early?.kind === 'supersede' && !resuming) {
        return standDown(early.revision, `superseded by r${early.revision} before it started`);
      }
      if (!variantA || variantA === templateHash) return await rollOutStraight();
      for (;;) {
        let decision: Decision | undefined;
        const resumed = resuming;
        resuming = undefined;
        // An abort or a newer revision that came while the run before continued as new: B's rule is on.
        const interrupted: Interruption | undefined =
          resumed && gates.interruption
            ? gates.interruption
            : await gates.abortably(async () => {
                decision = await experiment(resumed);
              });
        if (!interrupted && decision?.winner === 'B') {
          try {
            return await promoteB(decision.why);
          } catch (error) {
            if (isCancellation(error)) throw error;
            gates.promoting = false;
            if (state.stableTemplateHash === templateHash) {
              // B has the traffic: only a clean-up failed, said in the phase already.
              return state;
            }
            await CancellationScope.nonCancellable(() =>
              pointService(abTesting.variantAService, variantA ?? templateHash).catch(() => undefined),
            );
            decision = {
              winner: 'A',
              why: `promoting B failed: ${failureMessage(error)}`,
              eventReason: EventReason.PromotionFailed,
              warning: true,
            };
          }
        }
        if (interrupted?.kind === 'supersede') {
          const problems = await backToA(`superseded by r${interrupted.revision}: all traffic to A`);
          return standDown(interrupted.revision, `superseded by r${interrupted.revision}${problems}`);
        }
        const ending: { why: string; eventReason: string; warning: boolean; guardrail?: GuardrailName } =
          interrupted?.kind === 'abort'
            ? {
                why: interrupted.reason,
                eventReason: interrupted.eventReason ?? EventReason.RolloutAborted,
                warning: true,
              }
            : decision?.winner === 'A'
              ? decision
              : {
                  why: 'the experiment ended without a verdict',
                  eventReason: EventReason.RolloutAborted,
                  warning: true,
                };
        // The history says which guardrail sent the traffic back, in the activity's summary.
        const problems = await backToA(
          ending.guardrail ? `guardrail ${ending.guardrail}: all traffic to A` : 'all traffic to A',
        );
        state.currentStepIndex = steps.indexOf('verdict');
        const message = `${ending.why}; B (r${revision}) removed, A (${variantA}) stays stable${problems}`;
        rolloutLog.enterPhase('Degraded', message);
        rolloutLog.publishStatus(ending.eventReason, ending.warning ? 'Warning' : 'Normal');
        rolloutLog.announce('rolledback', message);
        await condition(() => gates.retryRequested || gates.superseded());
        if (gates.superseded()) {
          gates.standingDown = true;
          rolloutLog.superseded();
          return state;
        }
        // The retry runs the experiment again from the start, with B's pods back.
        scaleDowns.callOff(templateHash);
        gates.retried();
        concluded = undefined;
      }
    } catch (error) {
      if (isCancellation(error)) {
        // The Rollout was deleted: its ReplicaSets go with it, so only the traffic needs a last word.
        await CancellationScope.nonCancellable(async () => {
          await setWeights({ stable: 100, canary: 0 }, 'cancelled: all traffic to A').catch(() => undefined);
          await removeVariantBRoute('cancelled: remove the rule for B');
        });
      }
      throw error;
    }
  }

  /** An app's first revision, or the stable one again: nothing to compare with, so straight to stable. */
  async function rollOutStraight(): Promise<RolloutState> {
    const straight = variantA ? 'already stable' : 'first revision: straight to stable, no experiment';
    for (;;) {
      state.currentStepIndex = steps.length;
      const interrupted = await gates.abortably(async () => {
        rolloutLog.enterPhase('Progressing', straight, EventReason.RolloutStarted);
        rolloutLog.announce('deployed');
        await cluster.ensureReplicaSet.executeWithOptions({ summary: `scale to ${run.replicas} pods` }, [
          { rollout, revision, templateHash, replicas: run.replicas },
        ]);
        await waitForPods(templateHash, run.replicas, `wait for ${run.replicas} pods Ready`);
        await pointService(abTesting.variantAService, templateHash, run.replicas);
        await pointService(abTesting.variantBService, templateHash);
        await setWeights({ stable: 100, canary: 0 }, 'all traffic to A');
      });
      if (!interrupted) {
        state.stableTemplateHash = templateHash;
        rolloutLog.enterPhase('Healthy', `r${revision} is stable`, EventReason.RolloutCompleted);
        rolloutLog.announce('published');
        return state;
      }
      if (interrupted.kind === 'supersede') return standDown(interrupted.revision);
      rolloutLog.enterPhase(
        'Degraded',
        interrupted.reason,
        interrupted.eventReason ?? EventReason.RolloutAborted,
      );
      rolloutLog.announce('rolledback', interrupted.reason);
      await condition(() => gates.retryRequested || gates.superseded());
      if (gates.superseded())
        return standDown(
          gates.interruption?.kind === 'supersede' ? gates.interruption.revision : revision + 1,
        );
      gates.retried();
    }
  }
}
