import type { RolloutRef } from '../../workflows/rollout-api';
import {
  refersToService,
  splitsBetween,
  type HttpRoute,
  type HttpRouteRule,
  type SplitServices,
} from './http-route';

/**
 * The baseline backend of a judged canary (canary-judge-step.ts). Kayenta's method compares the
 * canary's pods with as many baseline pods of the stable revision, and only holds when both get the
 * same traffic: so while the judge runs, every rule Siirto weighs carries a third backendRef, the
 * Service `<rollout>-baseline`, weighted as the canary and taken from the stable's weight (80/20
 * becomes stable 60, canary 20, baseline 20). Where the canary has more than the stable (60/40), the
 * baseline gets all of the stable's weight, no more: the canary keeps the share it was given.
 * The rule's own weights alone say the split, so a weight write while the baseline is there (the
 * guard moving traffic to stable, an abort) keeps it in step, and taking the baseline out gives its
 * weight back to the stable exactly.
 */

/** The Service of a Rollout's baseline pods, while a judge runs with a Gateway API router. */
export function baselineServiceName(rollout: Pick<RolloutRef, 'name'>): string {
  return `${rollout.name}-baseline`;
}

/** The weights of a rule's three backendRefs for the stable and canary weights Siirto sets. */
export interface BaselineSplit {
  stable: number;
  canary: number;
  baseline: number;
}

/** The stable's weight shared with the baseline: the canary's, at most all of the stable's. */
export function splitWithBaseline(stable: number, canary: number): BaselineSplit {
  const baseline = Math.min(stable, canary);
  return { stable: stable - baseline, canary, baseline };
}

/** The rule's backendRef to the baseline Service, if it has one. */
export function baselineRef(rule: HttpRouteRule, baselineService: string, routeNamespace: string) {
  return (rule.backendRefs ?? []).find((ref) => refersToService(ref, baselineService, routeNamespace));
}

/**
 * A copy of the route with a backendRef to the baseline Service in every rule that splits between the
 * stable and canary Services, beside the stable's (its port and fields, the Services having the same
 * ports), weighted as `splitWithBaseline` says from the rule's weights. A rule that has it already is
 * left as it is.
 */
export function withBaselineBackend(
  route: HttpRoute,
  services: SplitServices,
  baselineService: string,
): HttpRoute {
  const namespace = route.metadata.namespace;
  const updated = structuredClone(route);
  for (const rule of updated.spec?.rules ?? []) {
    if (!splitsBetween(rule, services, namespace) || baselineRef(rule, baselineService, namespace)) continue;
    const refs = rule.backendRefs ?? [];
    const stableRef = refs.find((ref) => refersToService(ref, services.stableService, namespace));
    const canaryRef = refs.find((ref) => refersToService(ref, services.canaryService, namespace));
    if (!stableRef || !canaryRef) continue;
    // Gateway API weighs a backendRef without a weight as 1.
    const split = splitWithBaseline(stableRef.weight ?? 1, canaryRef.weight ?? 1);
    const { weight: _weight, ...stableFields } = stableRef;
    stableRef.weight = split.stable;
    refs.splice(refs.indexOf(canaryRef) + 1, 0, {
      ...stableFields,
      name: baselineService,
      weight: split.baseline,
    });
  }
  return updated;
}

/** A copy of the route without backendRefs to the baseline Service, their weight given back to the stable's. */
export function withoutBaselineBackend(
  route: HttpRoute,
  services: SplitServices,
  baselineService: string,
): HttpRoute {
  const namespace = route.metadata.namespace;
  const updated = structuredClone(route);
  for (const rule of updated.spec?.rules ?? []) {
    const baseline = baselineRef(rule, baselineService, namespace);
    if (!baseline || !rule.backendRefs) continue;
    const stableRef = rule.backendRefs.find((ref) => refersToService(ref, services.stableService, namespace));
    if (stableRef) stableRef.weight = (stableRef.weight ?? 1) + (baseline.weight ?? 1);
    rule.backendRefs = rule.backendRefs.filter((ref) => ref !== baseline);
  }
  return updated;
}
