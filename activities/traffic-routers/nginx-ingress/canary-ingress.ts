import type * as k8s from '@kubernetes/client-node';
import { createHash } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { DEFAULT_NGINX_ANNOTATION_PREFIX, type TrafficRouting } from '../../../schemas/rollout';
import type { RolloutRef } from '../../../workflows/rollout-api';
import type { SplitServices } from '../http-route';
import type { HeaderRouteStep, ManagedRoute } from '../traffic-router';

/**
 * The canary Ingress ingress-nginx reads beside a stable one, as Siirto builds it: pure, so what goes
 * to the apiserver can be checked without one.
 */

/** Labels on every canary Ingress, so `kubectl get ingress -l` finds Siirto's. */
export const CANARY_INGRESS_LABELS = {
  'app.kubernetes.io/managed-by': 'siirto',
  'siirto.dev/role': 'canary-ingress',
} as const;
/** Label naming the Rollout a canary Ingress belongs to. */
export const ROLLOUT_LABEL = 'siirto.dev/rollout';
/** Label naming the stable Ingress a canary Ingress copies. */
export const STABLE_INGRESS_LABEL = 'siirto.dev/stable-ingress';
/** Annotation holding the header route a step set on a canary Ingress, so a weight change keeps it. */
export const HEADER_ROUTE_ANNOTATION = 'siirto.dev/header-route';
/** The legacy class annotation, carried over where the stable Ingress uses it instead of ingressClassName. */
const INGRESS_CLASS_ANNOTATION = 'kubernetes.io/ingress.class';

/** The canary annotations Siirto writes itself; additionalIngressAnnotations may not set them. */
export const RESERVED_CANARY_ANNOTATIONS = ['canary', 'canary-weight', 'canary-weight-total'] as const;

/** A header route as a canary Ingress carries it: one header, matched exactly or by a regular expression. */
export interface IngressHeaderRoute {
  /** The step's route name. */
  name: string;
  header: string;
  /** `canary-by-header-value`: the header's value, exactly. */
  value?: string;
  /** `canary-by-header-pattern`: a regular expression the value matches. */
  pattern?: string;
}

/** What a Rollout's nginx routing says, each stable Ingress with the field that names it. */
export interface NginxSettings {
  stableIngresses: { name: string; field: string }[];
  prefix: string;
  additional: Record<string, string>;
  /** `spec.strategy.canary.trafficRouting.nginx` */
  field: string;
}

export function nginxSettings(
  trafficRouting: TrafficRouting,
  strategyField = 'spec.strategy.canary',
): NginxSettings {
  const nginx = trafficRouting.nginx;
  const field = `${strategyField}.trafficRouting.nginx`;
  const stableIngresses = !nginx
    ? []
    : nginx.stableIngress
      ? [{ name: nginx.stableIngress, field: `${field}.stableIngress` }]
      : (nginx.stableIngresses ?? []).map((name, index) => ({
          name,
          field: `${field}.stableIngresses[${index}]`,
        }));
  return {
    stableIngresses,
    prefix: nginx?.annotationPrefix ?? DEFAULT_NGINX_ANNOTATION_PREFIX,
    additional: nginx?.additionalIngressAnnotations ?? {},
    field,
  };
}

/**
 * The canary Ingress's name: `<rollout>-<stable Ingress>-canary`, as Argo Rollouts names it, so a
 * Rollout carried over finds the same name; shortened with a hash when it would pass 253 characters.
 */
export function canaryIngressName(rolloutName: string, stableIngress: string): string {
  const name = `${rolloutName}-${stableIngress}-canary`;
  if (name.length <= 253) return name;
  const hash = createHash('sha256').update(name).digest('hex').slice(0, 10);
  return `${name.slice(0, 253 - '-canary'.length - hash.length - 1).replace(/[-.]+$/, '')}-${hash}-canary`;
}

export const describeIngress = (namespace: string, name: string) => `Ingress ${namespace}/${name}`;

/** True when the backend sends to this Service (an Ingress only names Services of its own namespace). */
const sendsTo = (backend: k8s.V1IngressBackend | undefined, service: string) =>
  backend?.service?.name === service;

/** Every backend the Ingress has: its defaultBackend and each path's. */
function backends(ingress: k8s.V1Ingress): k8s.V1IngressBackend[] {
  const paths = (ingress.spec?.rules ?? []).flatMap((rule) => rule.http?.paths ?? []);
  return [
    ...(ingress.spec?.defaultBackend ? [ingress.spec.defaultBackend] : []),
    ...paths.map((p) => p.backend),
  ];
}

/**
 * Why the stable Ingress cannot have a canary: none of its backends sends to the stable Service.
 * Undefined when one does.
 */
export function stableIngressProblem(
  stable: k8s.V1Ingress,
  { stableService }: SplitServices,
  roles = { stable: 'stable' },
): string | undefined {
  if (backends(stable).some((backend) => sendsTo(backend, stableService))) return undefined;
  const { namespace = '', name = '' } = stable.metadata ?? {};
  return (
    `${describeIngress(namespace, name)} has no path (and no defaultBackend) sending to the ${roles.stable} ` +
    `Service "${stableService}", so a canary copy of it would carry nothing; point the path serving this ` +
    `app at Service ${stableService}, or name the Ingress that does`
  );
}

/** Why a mirror step cannot be carried out by canary Ingresses, naming the step and the fix. */
export function mirrorProblem(step: string): string {
  return (
    `${step}: ingress-nginx's canary annotations cannot copy requests to the canary (a canary Ingress has ` +
    'no mirror annotation), and trafficRouting.nginx routes this Rollout; remove the step, or route the ' +
    'Rollout with trafficRouting.gatewayAPI alone'
  );
}

/**
 * Why the header steps cannot be carried out by canary Ingresses: a match other than one header, or a
 * second route name (a canary Ingress holds one header route at a time).
 */
export function headerStepProblems(steps: readonly HeaderRouteStep[]): string[] {
  const problems: string[] = [];
  const [first] = steps;
  for (const { field, route } of steps) {
    const header =
      route.match && ingressHeaderRoute({ kind: 'header', route: { ...route, match: route.match } }, field);
    if (header && 'problem' in header) problems.push(header.problem);
    if (first && route.name !== first.route.name) {
      problems.push(
        `${field}.name: a canary Ingress holds one header route at a time, and ${first.field} already names ` +
          `"${first.route.name}"; give this step the name "${first.route.name}" to change that route`,
      );
    }
  }
  return problems;
}

/** The header route a step asks for, as a canary Ingress can carry it, or why it cannot. */
export function ingressHeaderRoute(
  managed: ManagedRoute,
  step: string,
): { route: IngressHeaderRoute } | { problem: string } {
  if (managed.kind === 'mirror') return { problem: mirrorProblem(step) };
  const { name, match } = managed.route;
  const [first, ...others] = match;
  if (!first || others.length > 0) {
    return {
      problem:
        `${step}.match: a canary Ingress matches one header (canary-by-header), not ${match.length}; ` +
        'keep one entry in match',
    };
  }
  const { headerName: header, headerValue } = first;
  if (headerValue.exact !== undefined) return { route: { name, header, value: headerValue.exact } };
  if (headerValue.prefix !== undefined)
    return { route: { name, header, pattern: `^${escapeRegex(headerValue.prefix)}` } };
  return { route: { name, header, pattern: headerValue.regex ?? '' } };
}

const escapeRegex = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Problems with additionalIngressAnnotations, each naming the key and the fix. */
export function additionalAnnotationProblems(settings: NginxSettings): string[] {
  return Object.keys(settings.additional).flatMap((key) => {
    const at = `${settings.field}.additionalIngressAnnotations["${key}"]`;
    if ((RESERVED_CANARY_ANNOTATIONS as readonly string[]).includes(key)) {
      return [`${at}: Siirto sets ${settings.prefix}/${key} itself from the steps' weights; remove it`];
    }
    if (!/^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/.test(key)) {
      return [`${at}: write the annotation's name without the prefix, such as canary-by-cookie`];
    }
    return [];
  });
}

/** What a canary Ingress carries besides its copy of the stable one. */
export interface CanaryState {
  weight: number;
  headerRoute?: IngressHeaderRoute;
}

export interface CanaryIngressInput extends SplitServices {
  rollout: RolloutRef;
  settings: Pick<NginxSettings, 'prefix' | 'additional'>;
  state: CanaryState;
}

/**
 * The canary Ingress for a stable one: its hosts and paths that send to the stable Service, each sent
 * to the canary Service instead (the other paths left out: ingress-nginx pairs a canary with the main
 * Ingress by host and path), its TLS and class, the canary annotations, and an ownerReference to the
 * Rollout so it goes with it. The stable Ingress's other annotations stay out: ingress-nginx takes
 * them from the main Ingress and ignores most of them on a canary.
 */
export function canaryIngressFor(stable: k8s.V1Ingress, input: CanaryIngressInput): k8s.V1Ingress {
  const { rollout, stableService, canaryService, settings, state } = input;
  const stableName = stable.metadata?.name ?? '';
  // Only backends that send to the stable Service are copied, so each has a service.
  const toCanary = (backend: k8s.V1IngressBackend): k8s.V1IngressBackend => ({
    service: { ...(backend.service as k8s.V1IngressServiceBackend), name: canaryService },
  });
  const rules = (stable.spec?.rules ?? []).flatMap((rule) => {
    const paths = (rule.http?.paths ?? [])
      .filter((path) => sendsTo(path.backend, stableService))
      .map((path) => ({ ...structuredClone(path), backend: toCanary(path.backend) }));
    return paths.length > 0 ? [{ ...(rule.host ? { host: rule.host } : {}), http: { paths } }] : [];
  });
  const defaultBackend = stable.spec?.defaultBackend;
  const stableClass = stable.metadata?.annotations?.[INGRESS_CLASS_ANNOTATION];
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: {
      name: canaryIngressName(rollout.name, stableName),
      namespace: rollout.namespace,
      labels: { ...CANARY_INGRESS_LABELS, [ROLLOUT_LABEL]: rollout.name, [STABLE_INGRESS_LABEL]: stableName },
      annotations: {
        ...(stableClass !== undefined ? { [INGRESS_CLASS_ANNOTATION]: stableClass } : {}),
        ...canaryAnnotations(settings, state),
      },
      ownerReferences: [
        {
          apiVersion: 'siirto.dev/v1alpha1',
          kind: 'Rollout',
          name: rollout.name,
          uid: rollout.uid,
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    spec: {
      ...(stable.spec?.ingressClassName ? { ingressClassName: stable.spec.ingressClassName } : {}),
      ...(defaultBackend && sendsTo(defaultBackend, stableService)
        ? { defaultBackend: toCanary(defaultBackend) }
        : {}),
      ...(stable.spec?.tls ? { tls: structuredClone(stable.spec.tls) } : {}),
      ...(rules.length > 0 ? { rules } : {}),
    },
  };
}

/** The annotations ingress-nginx reads on a canary: the user's additional ones, then Siirto's. */
function canaryAnnotations(
  { prefix, additional }: Pick<NginxSettings, 'prefix' | 'additional'>,
  { weight, headerRoute }: CanaryState,
): Record<string, string> {
  // The step's header replaces any header match of the additional annotations while it is set.
  const replacedByStep = headerRoute ? ['canary-by-header-value', 'canary-by-header-pattern'] : [];
  const annotations: Record<string, string> = {};
  for (const [key, value] of Object.entries(additional)) {
    if (!replacedByStep.includes(key)) annotations[`${prefix}/${key}`] = value;
  }
  annotations[`${prefix}/canary`] = 'true';
  annotations[`${prefix}/canary-weight`] = String(weight);
  if (headerRoute) {
    annotations[`${prefix}/canary-by-header`] = headerRoute.header;
    if (headerRoute.value !== undefined) annotations[`${prefix}/canary-by-header-value`] = headerRoute.value;
    else annotations[`${prefix}/canary-by-header-pattern`] = headerRoute.pattern ?? '';
    annotations[HEADER_ROUTE_ANNOTATION] = JSON.stringify(headerRoute);
  }
  return annotations;
}

/** The weight and header route a canary Ingress carries now. */
export function canaryStateOf(canary: k8s.V1Ingress, prefix: string): CanaryState {
  const annotations = canary.metadata?.annotations ?? {};
  const weight = Number.parseInt(annotations[`${prefix}/canary-weight`] ?? '0', 10);
  let headerRoute: IngressHeaderRoute | undefined;
  try {
    const stored = annotations[HEADER_ROUTE_ANNOTATION];
    headerRoute = stored ? (JSON.parse(stored) as IngressHeaderRoute) : undefined;
  } catch {
    // Garbled by hand: the route is gone, and the next write of the step sets it again.
    headerRoute = undefined;
  }
  return { weight: Number.isFinite(weight) ? weight : 0, ...(headerRoute ? { headerRoute } : {}) };
}

/** True when the Ingress is this Rollout's: its controller ownerReference is the Rollout's uid. */
export function ownedBy(ingress: k8s.V1Ingress, rollout: RolloutRef): boolean {
  return (ingress.metadata?.ownerReferences ?? []).some(
    (owner) => owner.controller && owner.uid === rollout.uid,
  );
}

/** The parts of a canary Ingress Siirto writes; two canaries with equal parts need no write. */
export function writtenParts(ingress: k8s.V1Ingress) {
  const { labels = {}, annotations = {}, ownerReferences = [] } = ingress.metadata ?? {};
  return { labels, annotations, ownerReferences, spec: ingress.spec ?? {} };
}

/** The existing canary with the desired one's written parts, everything else (status, metadata) kept. */
export function withWrittenParts(existing: k8s.V1Ingress, desired: k8s.V1Ingress): k8s.V1Ingress {
  const parts = writtenParts(desired);
  return {
    ...existing,
    metadata: {
      ...existing.metadata,
      labels: parts.labels,
      annotations: parts.annotations,
      ownerReferences: parts.ownerReferences,
    },
    spec: parts.spec,
  };
}

export const sameWrittenParts = (a: k8s.V1Ingress, b: k8s.V1Ingress) =>
  isDeepStrictEqual(
    JSON.parse(JSON.stringify(writtenParts(a))) as unknown,
    JSON.parse(JSON.stringify(writtenParts(b))) as unknown,
  );

/** The hosts and paths the canary Ingress would carry for this stable Ingress, for comparing copies. */
export function copiedSpec(stable: k8s.V1Ingress, services: SplitServices): k8s.V1IngressSpec {
  const built = canaryIngressFor(stable, {
    ...services,
    rollout: { name: '', namespace: '', uid: '' },
    settings: { prefix: DEFAULT_NGINX_ANNOTATION_PREFIX, additional: {} },
    state: { weight: 0 },
  });
  return JSON.parse(JSON.stringify(built.spec ?? {})) as k8s.V1IngressSpec;
}
