import type { FleetReleaseSpec, FleetTarget } from '../../schemas/fleet-release';
import {
  addressText,
  type FleetReleaseState,
  type FleetTargetState,
  type RolloutAddress,
  type WaveState,
} from '../fleet-api';

/**
 * The release as a plan: its waves in order, each with the Rollouts it names. Pure: the fleet
 * workflow builds its state from it, and selectors are resolved into Rollouts as their wave begins.
 */

/** A wave's name as people read it: its own, or `wave N` counted from 1. */
export function waveName(spec: FleetReleaseSpec, index: number): string {
  return spec.waves[index]?.name ?? `wave ${index + 1}`;
}

/** A target naming one Rollout; a selector is resolved when its wave begins. */
export function namedRollout(target: FleetTarget): RolloutAddress | undefined {
  return target.name === undefined
    ? undefined
    : { cluster: target.cluster, namespace: target.namespace, name: target.name };
}

/** The state a release begins in: every wave Pending, every named Rollout Waiting. */
export function initialState(release: string, spec: FleetReleaseSpec): FleetReleaseState {
  const waves: WaveState[] = spec.waves.map((wave, index) => ({
    name: waveName(spec, index),
    maxParallel: wave.maxParallel,
    stage: 'Pending',
  }));
  const targets: FleetTargetState[] = spec.waves.flatMap((wave, index) =>
    wave.targets.flatMap((target) => {
      const named = namedRollout(target);
      return named ? [{ ...named, wave: index, phase: 'Waiting' as const }] : [];
    }),
  );
  return {
    release,
    app: spec.app,
    phase: 'Running',
    currentWave: 0,
    waves,
    targets,
    message: `${spec.waves.length} waves, ${targets.length} Rollouts named`,
  };
}

/**
 * Adds the Rollouts a wave's selectors found, each once: one named elsewhere in the release, or found
 * by two selectors, keeps its first place.
 */
export function addFoundRollouts(
  state: FleetReleaseState,
  wave: number,
  found: readonly RolloutAddress[],
): void {
  const known = new Set(state.targets.map(addressText));
  for (const address of found) {
    if (known.has(addressText(address))) continue;
    known.add(addressText(address));
    state.targets.push({ ...address, wave, phase: 'Waiting' });
  }
}

/** The Rollouts of one wave, in the order the file names them. */
export function waveTargets(state: FleetReleaseState, wave: number): FleetTargetState[] {
  return state.targets.filter((target) => target.wave === wave);
}

/** Ended well for the release: Healthy with its change, or already had it. */
export function succeeded(target: FleetTargetState): boolean {
  return target.phase === 'Healthy' || target.phase === 'Unchanged';
}

/** The release's one-line summary for the Temporal UI: `checkout 2.1: [c1] → [c2, c3]`. */
export function releaseSummary(release: string, state: FleetReleaseState): string {
  const waves = state.waves.map(
    (_, index) =>
      `[${[...new Set(waveTargets(state, index).map((target) => target.cluster))].join(', ') || 'selected'}]`,
  );
  return `fleet release ${state.app} ${release}: ${waves.join(' → ')}`;
}

/** The release's current details as markdown, for the Temporal UI: a row per Rollout. */
export function releaseDetails(state: FleetReleaseState): string {
  const rows = state.targets.map((target) => {
    const wave = state.waves[target.wave]?.name ?? '';
    const weights = target.weights ? `${target.weights.canary}%` : '';
    return `| ${wave} | ${addressText(target)} | ${target.phase} | ${target.revision ?? ''} | ${target.step ?? ''} | ${weights} | ${target.message ?? ''} |`;
  });
  const gates = state.waves.map((wave) => (wave.gate ? `- ${wave.name}: ${wave.gate}` : '')).filter(Boolean);
  return [
    `**${state.phase}** — ${state.waiting ?? state.message}`,
    '',
    '| wave | Rollout | phase | revision | step | canary | message |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...rows,
    ...(gates.length ? ['', ...gates] : []),
  ].join('\n');
}
