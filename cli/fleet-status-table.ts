import { addressText, type FleetReleaseState, type FollowedRollout } from '../workflows/fleet-api';
import { table } from './output';

/**
 * `siirto fleet status`: the release's Rollouts, cluster by cluster and wave by wave, with each one's
 * phase, step and weight. Pure: the view of the workflow's own state and what its pending activities
 * say right now (a followed Rollout's heartbeat, or why a cluster has not answered).
 */

/** What a pending activity of the release says about one Rollout. */
export interface PendingWork {
  /** `follow/<cluster/namespace/name>`, `apply/...`: the activity ID the workflow gave it. */
  activityId: string;
  /** The follower's last heartbeat. */
  followed?: FollowedRollout;
  attempt: number;
  /** Why the last attempt failed: the cluster's apiserver unreachable, say. */
  lastFailure?: string;
  /** True while no worker of the cluster has picked it up. */
  waitingForWorker: boolean;
  /** Since when it waits (scheduled, ISO 8601). */
  since?: string;
}

export function fleetStatusTable(
  state: FleetReleaseState,
  pending: readonly PendingWork[],
  now = Date.now(),
): string {
  const byAddress = new Map<string, PendingWork>();
  for (const work of pending) byAddress.set(work.activityId.slice(work.activityId.indexOf('/') + 1), work);
  const rows = state.targets.map((target) => {
    const work = byAddress.get(addressText(target));
    const live = work?.followed;
    const weights = live?.weights ?? target.weights;
    return [
      state.waves[target.wave]?.name ?? String(target.wave + 1),
      target.cluster,
      `${target.namespace}/${target.name}`,
      target.phase,
      live?.phase ?? target.rolloutPhase ?? '',
      live?.step ?? target.step ?? '',
      weights ? `${weights.canary}%` : '',
      String(live?.revision ?? target.revision ?? ''),
      work
        ? (delayText(target.cluster, work, now) ?? live?.message ?? target.message ?? '')
        : (target.message ?? ''),
    ];
  });
  const header =
    `release ${state.app}/${state.release}: ${state.phase}` +
    (state.waiting ? ` — ${state.waiting}` : ` — ${state.message}`);
  const waves = state.waves.map((wave, index) => {
    const marker = index === state.currentWave && wave.stage !== 'Done' ? '▶ ' : '  ';
    return `${marker}${wave.name}: ${wave.stage}${wave.gate ? ` (${wave.gate})` : ''}, maxParallel ${wave.maxParallel}`;
  });
  return [
    header,
    ...waves,
    '',
    table(['WAVE', 'CLUSTER', 'ROLLOUT', 'RELEASE', 'PHASE', 'STEP', 'CANARY', 'REVISION', 'MESSAGE'], rows),
  ].join('\n');
}

/** Why a cluster holds its Rollout up, when it does: no worker, or failing attempts. */
function delayText(cluster: string, work: PendingWork, now: number): string | undefined {
  const seconds = work.since ? Math.max(0, Math.round((now - Date.parse(work.since)) / 1000)) : 0;
  if (work.lastFailure && work.attempt > 1) {
    return `cluster ${cluster} not answering (attempt ${work.attempt}): ${work.lastFailure}`;
  }
  // A moment in the queue is normal; longer means the cluster's workers are down.
  if (work.waitingForWorker && seconds >= 5) {
    return `no worker of cluster ${cluster} has taken it for ${seconds}s (queue siirto-fleet-${cluster})`;
  }
  return undefined;
}
