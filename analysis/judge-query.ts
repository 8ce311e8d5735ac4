import { formatDuration } from '../schemas/duration';
import { escapeStringContent } from './query-arguments';

/**
 * A judged metric's query, scoped to one side of the comparison. The user writes `{{selector}}` where
 * the series' label matchers go; Siirto writes there the matchers of the baseline's pods or of the
 * canary's, as Prometheus' Kubernetes discovery labels them (each pod label a series label:
 * `siirto.dev/role` → `siirto_dev_role`), every value escaped as a PromQL string. `{{range}}` becomes
 * the range query's step, the natural window of a rate sampled at that resolution.
 */

/** The label a baseline's pods carry, beside their pod-template-hash. */
export const ROLE_LABEL = 'siirto.dev/role';
export const BASELINE_ROLE = 'baseline';

/**
 * The pod-template-hash a baseline's pods carry: the stable revision's, marked as the baseline's, so
 * the stable Service (which selects the stable's hash) does not send them the stable's traffic, and
 * the baseline Service selects them alone.
 */
export function baselinePodHash(stableHash: string): string {
  return `${stableHash}-${BASELINE_ROLE}`;
}

export type JudgedRole = 'baseline' | 'canary';

export interface JudgeScope {
  namespace: string;
  /** The stable revision's template hash: the baseline's pods run it. */
  stableHash: string;
  canaryHash: string;
  /**
   * The pod-template-hash label of the baseline's pods: `baselinePodHash(stableHash)` where they have
   * one of their own; the stable's when absent (a baseline started before they had).
   */
  baselineHash?: string;
}

const SELECTOR = /\{\{\s*selector\s*\}\}/g;
const RANGE = /\{\{\s*range\s*\}\}/g;

/** Prometheus' name for a pod label, as a `labelmap` of `__meta_kubernetes_pod_label_(.+)` makes it. */
export function seriesLabel(podLabel: string): string {
  return podLabel.replace(/[^a-zA-Z0-9_]/g, '_');
}

/**
 * The label matchers of one role's pods. The baseline runs the stable's template; its pods are told
 * from the stable's by their own hash and the role label; the canary's by its own hash, and never a
 * baseline's.
 */
export function roleMatchers(role: JudgedRole, scope: JudgeScope): string {
  const matcher = (label: string, value: string) => `${label}="${escapeStringContent(value, '"')}"`;
  const hash = role === 'baseline' ? (scope.baselineHash ?? scope.stableHash) : scope.canaryHash;
  return [
    matcher('namespace', scope.namespace),
    matcher(seriesLabel('siirto.dev/pod-template-hash'), hash),
    matcher(seriesLabel(ROLE_LABEL), role === 'baseline' ? BASELINE_ROLE : ''),
  ].join(',');
}

/** The query as sent for `role`: `{{selector}}` and `{{range}}` written in. */
export function scopeJudgeQuery(
  query: string,
  role: JudgedRole,
  scope: JudgeScope,
  stepMilliseconds: number,
): string {
  return query
    .replace(SELECTOR, () => roleMatchers(role, scope))
    .replace(RANGE, () => formatDuration(stepMilliseconds));
}
