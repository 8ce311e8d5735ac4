import {
  allHandlersFinished,
  CancellationScope,
  condition,
  isCancellation,
  log,
  setCurrentDetails,
  setHandler,
} from '@temporalio/workflow';
import {
  addressText,
  approveUpdate,
  fleetAbortUpdate,
  fleetPromoteUpdate,
  fleetStatusQuery,
  type FleetPromoteResult,
  type FleetReleaseInput,
  type FleetReleaseState,
  type FleetTargetState,
} from '../fleet-api';
import { clusterActivities, type ClusterActivities } from './cluster-activities';
import { abortRelease, address, failureText } from './fleet-abort';
import { addFoundRollouts, initialState, releaseDetails, succeeded, waveTargets } from './release-plan';
import { releaseAnnouncer } from './release-announcements';
import { awaitWindow, passGates, type GateContext } from './wave-gates';

/** The longest time between a follower's heartbeats, unless the input says otherwise. */
const DEFAULT_FOLLOW_INTERVAL_MILLISECONDS = 5_000;

const FINISHED_PHASES = ['Healthy', 'Aborted', 'Degraded'];

/**
 * One release of an app across clusters (workflow ID `fleet/<app>`). Wave by wave, it writes the
 * change into each Rollout's template through that cluster's own worker, then follows the revision
 * that cluster's Siirto rolls out until it ends Healthy or Degraded; at most `maxParallel` Rollouts of
 * a wave are in flight at once, and none starts outside an allowed window. Between waves it passes
 * the wave's gates. An abort (asked for, a gate failing, or a Rollout ending Degraded when the release
 * says so) aborts every revision still in flight and, when asked, rolls the Healthy ones back. Each
 * cluster's Siirto runs its Rollouts exactly as without the fleet: this workflow only changes
 * templates and watches the results. Its history reads as the release's log.
 */
export async function fleetRelease(input: FleetReleaseInput): Promise<FleetReleaseState> {
  const { spec, release } = input;
  const followIntervalMilliseconds = input.followIntervalMilliseconds ?? DEFAULT_FOLLOW_INTERVAL_MILLISECONDS;
  const state = initialStateOf(input);
  let abortRequest: { reason: string; by: string } | undefined;
  const stopped = () => abortRequest !== undefined;
  const clusters = new Map<string, ClusterActivities>();
  const activities = (cluster: string): ClusterActivities => {
    let found = clusters.get(cluster);
    if (!found) {
      found = clusterActivities(cluster, followIntervalMilliseconds);
      clusters.set(cluster, found);
    }
    return found;
  };
  const publish = () => setCurrentDetails(releaseDetails(state));
  const requestAbort = (reason: string, by: string) => {
    if (abortRequest) return;
    abortRequest = { reason, by };
    log.warn('fleet release aborting', { release, reason, by });
  };
  const finished = () => FINISHED_PHASES.includes(state.phase);
  const gates: GateContext = { state, spec, stopped, publish, activities };
  const announce = releaseAnnouncer(spec, state, input.by);

  setHandler(fleetStatusQuery, () => state);
  setHandler(
    approveUpdate,
    (request) => {
      const wave = state.waves[request?.wave ?? state.currentWave];
      if (wave) Object.assign(wave, { approved: true, approvedBy: request?.by ?? 'someone' });
      state.message = `${wave?.name ?? 'wave'} approved by ${request?.by ?? 'someone'}`;
      publish();
      return state;
    },
    {
      validator: (request) => {
        if (request?.release !== undefined && request.release !== release)
          throw new Error(
            `the approval names release ${request.release}, but the running release of ${spec.app} is ${release}`,
          );
        if (finished() || stopped())
          throw new Error(`release ${release} is ${state.phase}: nothing to approve`);
        const index = request?.wave ?? state.currentWave;
        if (!state.waves[index])
          throw new Error(`release ${release} has no wave ${index + 1}; it has ${state.waves.length}`);
        if (index < state.currentWave)
          throw new Error(`${state.waves[index]?.name} is already past its gates`);
      },
    },
  );
  setHandler(
    fleetAbortUpdate,
    (request) => {
      requestAbort(request?.reason ?? `aborted by ${request?.by ?? 'someone'}`, request?.by ?? 'someone');
      return state;
    },
    {
      validator: (_request) => {
        if (finished()) throw new Error(`release ${release} is ${state.phase} already: nothing to abort`);
      },
    },
  );
  setHandler(
    fleetPromoteUpdate,
    async (request): Promise<FleetPromoteResult> => {
      const result: FleetPromoteResult = { promoted: [], refused: [] };
      await Promise.all(
        inFlight(request?.cluster).map(async (target) => {
          const answer = await activities(target.cluster).calls.promoteFleetRollout.executeWithOptions(
            { summary: `promote ${addressText(target)}${request?.full ? ' (full)' : ''}` },
            [
              {
                target: address(target),
                templateHash: target.templateHash,
                full: request?.full ?? false,
                by: request?.by ?? 'fleet',
              },
            ],
          );
          (answer.accepted ? result.promoted : result.refused).push(answer.message);
        }),
      );
      return result;
    },
    {
      validator: (request) => {
        if (
          request?.cluster !== undefined &&
          !state.targets.some((target) => target.cluster === request.cluster)
        ) {
          const known = [...new Set(state.targets.map((target) => target.cluster))].join(', ');
          throw new Error(
            `release ${release} has no Rollout in cluster ${request.cluster}; its clusters are ${known}`,
          );
        }
        if (inFlight(request?.cluster).length === 0) {
          throw new Error(
            `no Rollout of release ${release}${request?.cluster ? ` in cluster ${request.cluster}` : ''} is in flight`,
          );
        }
      },
    },
  );

  function inFlight(cluster?: string) {
    return state.targets.filter(
      (target): target is FleetTargetState & { templateHash: string } =>
        target.phase === 'Progressing' &&
        target.templateHash !== undefined &&
        (cluster === undefined || target.cluster === cluster),
    );
  }

  async function runTarget(target: FleetTargetState): Promise<void> {
    const where = addressText(target);
    const { calls, follow } = activities(target.cluster);
    target.phase = 'Applying';
    publish();
    // Not cancellable: once the write may have happened, the release must know the template it wrote.
    const applied = await CancellationScope.nonCancellable(() =>
      calls.applyFleetChange.executeWithOptions(
        { summary: `apply ${spec.app} ${release} to ${where}`, activityId: `apply/${where}` },
        [{ target: address(target), release: `${spec.app}/${release}`, change: spec.change }],
      ),
    ).catch((error: unknown) => {
      target.phase = 'Degraded';
      target.message = `the change was not applied: ${failureText(error)}`;
      return undefined;
    });
    if (!applied) return endedDegraded(target);
    target.templateHash = applied.templateHash;
    target.previousTemplateHash = applied.previousTemplateHash;
    if (applied.unchanged) {
      target.phase = 'Unchanged';
      target.message = `already ran template ${applied.templateHash} Healthy`;
      publish();
      return;
    }
    target.phase = 'Progressing';
    target.message = `template ${applied.previousTemplateHash ?? 'none'} → ${applied.templateHash}`;
    publish();
    try {
      const ended = await follow.followFleetRollout.executeWithOptions(
        { summary: `follow ${where} to Healthy or Degraded`, activityId: `follow/${where}` },
        [
          {
            target: address(target),
            templateHash: applied.templateHash,
            intervalMilliseconds: followIntervalMilliseconds,
          },
        ],
      );
      Object.assign(target, {
        revision: ended.revision,
        workflowId: ended.workflowId,
        rolloutPhase: ended.phase,
        step: ended.step,
        weights: ended.weights,
        message: ended.message,
        phase: ended.phase,
      });
    } catch (error) {
      if (isCancellation(error)) throw error;
      target.phase = 'Degraded';
      target.message = failureText(error);
    }
    publish();
    if (target.phase === 'Degraded') endedDegraded(target);
  }

  function endedDegraded(target: FleetTargetState): void {
    publish();
    if (spec.abortOnDegraded)
      requestAbort(`${addressText(target)} ended Degraded: ${target.message ?? ''}`, 'fleet');
  }

  async function runWave(index: number): Promise<void> {
    const wave = spec.waves[index];
    const waveState = state.waves[index];
    if (!wave || !waveState) return;
    state.currentWave = index;
    waveState.stage = 'Running';
    publish();
    for (const target of wave.targets) {
      if (!('selector' in target) || target.selector === undefined) continue;
      const found = await activities(target.cluster).calls.findFleetRollouts.executeWithOptions(
        { summary: `find Rollouts of ${target.cluster}/${target.namespace} by selector` },
        [{ cluster: target.cluster, namespace: target.namespace, selector: target.selector }],
      );
      addFoundRollouts(state, index, found);
    }
    announce.waveStarted(index);
    const queue = waveTargets(state, index).filter((target) => target.phase === 'Waiting');
    const lanes = Array.from({ length: Math.min(wave.maxParallel, queue.length) }, async () => {
      for (let target = queue.shift(); target && !stopped(); target = queue.shift()) {
        await awaitWindow(gates, `${addressText(target)} (${waveState.name})`);
        if (stopped()) return;
        await runTarget(target);
      }
    });
    await Promise.all(lanes);
    if (stopped()) return;
    if (wave.gates) {
      const failure = await passGates(gates, index, wave.gates);
      if (failure !== undefined) return requestAbort(failure, 'gate');
    }
    waveState.stage = 'Done';
    publish();
    announce.waveFinished(index, 'success');
  }

  publish();
  announce.started();
  const waves = new CancellationScope();
  // An abort from any side (a command, a gate, a Degraded Rollout) stops what the waves are doing.
  void condition(stopped).then(() => waves.cancel());
  try {
    await waves.run(async () => {
      for (let index = 0; index < spec.waves.length && !stopped(); index++) await runWave(index);
    });
  } catch (error) {
    if (!isCancellation(error)) throw error;
  }
  if (abortRequest) {
    await abortRelease({ state, spec, ...abortRequest, activities, followIntervalMilliseconds, publish });
  } else {
    state.currentWave = spec.waves.length;
    const degraded = state.targets.filter((target) => !succeeded(target));
    state.phase = degraded.length > 0 ? 'Degraded' : 'Healthy';
    state.message =
      degraded.length > 0
        ? `done; not Healthy: ${degraded.map(addressText).join(', ')}`
        : `every Rollout Healthy (${state.targets.length})`;
    publish();
  }
  announce.finished();
  await announce.sent();
  await condition(allHandlersFinished);
  return state;
}

function initialStateOf(input: FleetReleaseInput): FleetReleaseState {
  return initialState(input.release, input.spec);
}
