import type { CanaryStrategy, IntOrPercent, TrafficWeights } from '../../schemas/rollout';
import { canaryReplicasFor } from './canary-plan';

/**
 * A canary without a traffic router (Argo Rollouts' basic canary): a weight is approximated by pod
 * counts, since the app's own Service spreads its traffic over the Ready pods of both revisions. Pure
 * arithmetic, so the workflow and its tests share it.
 */

/** Pods of each revision. */
export interface PodCounts {
  stable: number;
  canary: number;
}

/** How far the pods of both revisions together may go above and below spec.replicas while they move. */
export interface SurgeLimits {
  maxSurge: number;
  maxUnavailable: number;
}

/** Argo Rollouts' and Deployments' default for both maxSurge and maxUnavailable. */
export const DEFAULT_SURGE_LIMIT = '25%';

/** A number of pods, or a percentage of `replicas`: rounded up for a surge, down for unavailable pods. */
export function resolveIntOrPercent(value: IntOrPercent, replicas: number, roundUp: boolean): number {
  if (typeof value === 'number') return value;
  const exact = (replicas * Number(value.slice(0, -1))) / 100;
  return roundUp ? Math.ceil(exact) : Math.floor(exact);
}

/**
 * The strategy's limits for `replicas` pods. When both come to 0 (small percentages of few pods),
 * one pod may be unavailable, as a Deployment allows: otherwise no pod could ever move.
 */
export function surgeLimits(
  canary: Pick<CanaryStrategy, 'maxSurge' | 'maxUnavailable'>,
  replicas: number,
): SurgeLimits {
  const maxSurge = resolveIntOrPercent(canary.maxSurge ?? DEFAULT_SURGE_LIMIT, replicas, true);
  const maxUnavailable = resolveIntOrPercent(canary.maxUnavailable ?? DEFAULT_SURGE_LIMIT, replicas, false);
  if (maxSurge === 0 && maxUnavailable === 0) return { maxSurge, maxUnavailable: 1 };
  return { maxSurge, maxUnavailable };
}

/** The pods a weight asks for: the canary's rounded up, as Argo Rollouts does, the stable the rest. */
export function podsForWeight(replicas: number, weight: number): PodCounts {
  const canary = canaryReplicasFor(replicas, weight);
  return { canary, stable: replicas - canary };
}

const SIDES = ['canary', 'stable'] as const;

/**
 * The next change of pod counts from `current` towards `target`, or undefined once there. A change
 * either adds pods (within maxSurge above spec.replicas; the caller waits for them Ready) or removes
 * them (never leaving fewer than spec.replicas - maxUnavailable, counting the pods added before as
 * Ready). Adding comes first, so a step has its canary pods Ready before the stable ones go.
 */
export function nextPodCounts(
  replicas: number,
  limits: SurgeLimits,
  current: PodCounts,
  target: PodCounts,
): PodCounts | undefined {
  const next = { ...current };
  let room = replicas + limits.maxSurge - (current.stable + current.canary);
  for (const side of SIDES) {
    const added = Math.min(Math.max(target[side] - next[side], 0), Math.max(room, 0));
    next[side] += added;
    room -= added;
  }
  if (next.canary !== current.canary || next.stable !== current.stable) return next;
  let spare = current.stable + current.canary - (replicas - limits.maxUnavailable);
  for (const side of [...SIDES].reverse()) {
    const removed = Math.min(Math.max(next[side] - target[side], 0), Math.max(spare, 0));
    next[side] -= removed;
    spare -= removed;
  }
  if (next.canary !== current.canary || next.stable !== current.stable) return next;
  return undefined;
}

/** Every change from `current` to `target`, in order (nextPodCounts until there). */
export function podCountPath(
  replicas: number,
  limits: SurgeLimits,
  current: PodCounts,
  target: PodCounts,
): PodCounts[] {
  const path: PodCounts[] = [];
  for (let at = nextPodCounts(replicas, limits, current, target); at;) {
    path.push(at);
    at = nextPodCounts(replicas, limits, at, target);
  }
  return path;
}

/**
 * The weights Ready pods give: the canary's share of all Ready pods, in whole percent. With none Ready
 * there is nothing to share, and the weights asked for stand.
 */
export function weightsOfReadyPods(ready: PodCounts, asked: TrafficWeights): TrafficWeights {
  const total = ready.stable + ready.canary;
  if (total === 0) return asked;
  const canary = Math.round((ready.canary * 100) / total);
  return { stable: 100 - canary, canary };
}

/**
 * What the traffic router is handed. Only a canary with trafficRouting writes weights, and the bridge
 * requires both Services with it; the blanks are never sent.
 */
export function routedBy(canary: Pick<CanaryStrategy, 'trafficRouting' | 'stableService' | 'canaryService'>) {
  return {
    trafficRouting: canary.trafficRouting ?? {},
    stableService: canary.stableService ?? '',
    canaryService: canary.canaryService ?? '',
  };
}
