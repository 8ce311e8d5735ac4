import type { BlueGreenStrategy, RolloutStatus } from '../schemas/rollout';

/**
 * How the CLI shows a blue-green Rollout's traffic: which revision each Service selects (and the
 * route's weights between them, when it has one) where a canary shows its weights.
 */

/** The revision a hash is, as people count them: `r3`, or the hash when the status does not say. */
function revisionOf(status: RolloutStatus, hash: string | undefined): string {
  if (!hash) return '-';
  if (hash === status.currentTemplateHash && status.revision !== undefined) return `r${status.revision}`;
  return hash;
}

/** For `siirto list`: `active r2`, or `active abc12 / preview r3` while a preview runs. */
export function blueGreenTraffic(status: RolloutStatus): string {
  const { activeSelector, previewSelector } = status.blueGreen ?? {};
  if (!activeSelector && !previewSelector) return '-';
  const active = `active ${revisionOf(status, activeSelector)}`;
  return previewSelector && previewSelector !== activeSelector
    ? `${active} / preview ${revisionOf(status, previewSelector)}`
    : active;
}

/** For `siirto status`: the Services, and the route's weights if the traffic goes through one. */
export function blueGreenTrafficLines(status: RolloutStatus, blueGreen: BlueGreenStrategy): string[] {
  const { activeSelector, previewSelector } = status.blueGreen ?? {};
  const weights = status.weights ?? { stable: 100, canary: 0 };
  return [
    `  active   ${blueGreen.activeService} → ${revisionOf(status, activeSelector)}`,
    ...(blueGreen.previewService
      ? [`  preview  ${blueGreen.previewService} → ${revisionOf(status, previewSelector)}`]
      : []),
    ...(blueGreen.trafficRouting
      ? [`  weights  active ${weights.stable}% / preview ${weights.canary}%`]
      : []),
  ];
}

/** The role of a revision's pods: `active`, `preview`, or `old`. */
export function blueGreenRole(status: RolloutStatus, hash: string | undefined): string {
  if (hash && hash === status.blueGreen?.activeSelector) return 'active';
  if (hash && (hash === status.blueGreen?.previewSelector || hash === status.currentTemplateHash))
    return 'preview';
  return 'old';
}
