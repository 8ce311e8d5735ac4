import { parsePauseDuration } from '../schemas/duration';
import { ROLLOUT_GROUP, ROLLOUT_VERSION } from '../schemas/rollout';
import { convertAnalysisReference, type ReferenceContext } from './argo-analysis-conversion';
import { isObject, noteDropped, objectsIn, pick, type Json, type Note } from './argo-conversion-notes';

/** Argo Rollouts' Gateway API traffic-router plugin, the one Siirto's gatewayAPI routing replaces. */
export const GATEWAY_API_PLUGIN = 'argoproj-labs/gatewayAPI';

const SPEC_DROPPED = {
  workloadRef:
    "Siirto's Rollout holds its pod template itself; copy the referenced workload's selector and template " +
    'into spec.selector and spec.template, and scale that workload down once the Rollout is Healthy',
  minReadySeconds: 'Siirto counts a pod once it is Ready',
  rollbackWindow: 'Siirto rolls an earlier revision out again with `siirto undo`, through all the steps',
  paused: 'Siirto pauses at pause steps only; a `pause: {}` step waits for a promote',
  progressDeadlineAbort: 'Siirto always aborts a step whose pods are not Ready by progressDeadlineSeconds',
  restartAt: 'Siirto does not restart pods in place; change the pod template to roll them out again',
  analysis: 'Siirto keeps analyses in Temporal history, not as AnalysisRun objects to limit',
};

const CANARY_DROPPED = {
  maxUnavailable: 'Siirto keeps the stable ReplicaSet at full size until the new revision is promoted',
  maxSurge: 'Siirto sizes the canary to its traffic share beside a stable ReplicaSet at full size',
  antiAffinity: 'Siirto adds no anti-affinity between revisions; put it in the pod template if needed',
  canaryMetadata: 'Siirto labels the pods of each revision with siirto.dev/pod-template-hash only',
  stableMetadata: 'Siirto labels the pods of each revision with siirto.dev/pod-template-hash only',
  scaleDownDelayRevisionLimit: 'Siirto scales each old ReplicaSet down after scaleDownDelaySeconds',
  dynamicStableScale: 'Siirto keeps the stable ReplicaSet at full size until promotion, ready for an abort',
  pingPong: 'Siirto points stableService and canaryService at the right pods itself',
  minPodsPerReplicaSet: 'Siirto runs at least one canary pod for any weight above 0',
  replicaProgressThreshold: 'Siirto waits for every pod a step asks for to be Ready',
};

const BLUE_GREEN_DROPPED = {
  maxUnavailable: 'Siirto keeps the active ReplicaSet at full size until the preview is promoted',
  antiAffinity: 'Siirto adds no anti-affinity between revisions; put it in the pod template if needed',
  scaleDownDelayRevisionLimit: 'Siirto scales each old ReplicaSet down after scaleDownDelaySeconds',
};

/** Blue-green fields Siirto takes under Argo's names, unchanged. */
const BLUE_GREEN_FIELDS = [
  'activeService',
  'previewService',
  'autoPromotionEnabled',
  'autoPromotionSeconds',
  'previewReplicaCount',
  'scaleDownDelaySeconds',
  'abortScaleDownDelaySeconds',
  'previewMetadata',
  'activeMetadata',
];

/** Steps taken in Argo's own shape, unchanged. */
const STEPS_AS_THEY_ARE = ['setWeight', 'pause', 'setCanaryScale', 'setHeaderRoute', 'setMirrorRoute'];

const STEPS_DROPPED: Record<string, string> = {
  experiment: 'Siirto runs no Experiments; judge the canary in an analysis step instead',
  plugin: 'Siirto runs no step plugins',
};

/** An Argo Rollout as Siirto's, with everything it could not carry over noted. */
export function convertRollout(document: Json, note: Note, droppedTemplates: ReadonlySet<string>): Json {
  const metadata = isObject(document.metadata) ? document.metadata : {};
  const spec = isObject(document.spec) ? document.spec : {};
  const strategy = isObject(spec.strategy) ? spec.strategy : {};
  const context: ReferenceContext = {
    rolloutName: metadata.name,
    rolloutNamespace: metadata.namespace,
    droppedTemplates,
  };
  noteDropped(spec, 'spec', SPEC_DROPPED, note);
  let converted: Json = {};
  if (isObject(strategy.canary)) {
    converted = { canary: convertCanary(strategy.canary, note, context) };
  } else if (isObject(strategy.blueGreen)) {
    converted = { blueGreen: convertBlueGreen(strategy.blueGreen, note, context) };
  } else {
    note('spec.strategy', 'has neither canary nor blueGreen; Siirto needs one of them');
  }
  return {
    apiVersion: `${ROLLOUT_GROUP}/${ROLLOUT_VERSION}`,
    kind: 'Rollout',
    metadata: convertMetadata(metadata, note),
    spec: {
      ...pick(spec, ['replicas', 'selector']),
      ...(isObject(spec.template) ? { template: convertPodTemplate(spec.template) } : {}),
      ...pick(spec, ['revisionHistoryLimit', 'progressDeadlineSeconds']),
      strategy: converted,
    },
  };
}

/** Name, namespace, labels and annotations; Argo's own bookkeeping annotations stay behind. */
function convertMetadata(metadata: Json, note: Note): Json {
  const annotations = isObject(metadata.annotations) ? metadata.annotations : {};
  const kept = Object.fromEntries(
    Object.entries(annotations).filter(([key]) => {
      if (key === 'kubectl.kubernetes.io/last-applied-configuration') return false;
      if (!key.startsWith('rollout.argoproj.io/')) return true;
      note(`metadata.annotations["${key}"]`, 'not carried over: it is Argo Rollouts’ own bookkeeping');
      return false;
    }),
  );
  return {
    ...pick(metadata, ['name', 'namespace', 'labels']),
    ...(Object.keys(kept).length > 0 ? { annotations: kept } : {}),
  };
}

/** Siirto's pod template metadata holds labels and annotations; the spec goes as it is. */
function convertPodTemplate(template: Json): Json {
  const metadata = isObject(template.metadata) ? pick(template.metadata, ['labels', 'annotations']) : {};
  return { ...(Object.keys(metadata).length > 0 ? { metadata } : {}), spec: template.spec };
}

function convertCanary(canary: Json, note: Note, context: ReferenceContext): Json {
  const at = 'spec.strategy.canary';
  noteDropped(canary, at, CANARY_DROPPED, note);
  const trafficRouting = convertTrafficRouting(canary.trafficRouting, `${at}.trafficRouting`, note, context);
  // Without a router there is no traffic to split, and the missing router is the one note.
  for (const service of trafficRouting ? ['stableService', 'canaryService'] : []) {
    if (canary[service] === undefined) {
      note(
        `${at}.${service}`,
        'missing: Siirto splits traffic between a stable and a canary Service; name both',
      );
    }
  }
  const steps = objectsIn(canary.steps).flatMap((step, index) => {
    const converted = convertStep(step, `${at}.steps[${index}]`, note, context);
    return converted ? [converted] : [];
  });
  const analysis = isObject(canary.analysis)
    ? convertAnalysisReference(canary.analysis, `${at}.analysis`, note, context)
    : undefined;
  return {
    ...pick(canary, ['stableService', 'canaryService']),
    ...(trafficRouting ? { trafficRouting } : {}),
    ...(canary.steps !== undefined ? { steps } : {}),
    ...(analysis ? { analysis } : {}),
    ...pick(canary, ['scaleDownDelaySeconds', 'abortScaleDownDelaySeconds']),
  };
}

/** The fields of Argo's nginx block Siirto reads as Argo does. */
const NGINX_FIELDS = ['stableIngress', 'stableIngresses', 'annotationPrefix', 'additionalIngressAnnotations'];

/**
 * Argo's routers Siirto has as its own: the Gateway API plugin as gatewayAPI routing (HTTPRoutes in
 * the Rollout's own namespace; the plugin's `namespace` is noted where it may say otherwise), and the
 * nginx block as nginx routing. Both together move together, as in Argo.
 */
function convertTrafficRouting(
  routing: unknown,
  at: string,
  note: Note,
  context: ReferenceContext,
): Json | undefined {
  if (!isObject(routing)) {
    note(
      at,
      'missing: Siirto shifts traffic through Gateway API HTTPRoutes or ingress-nginx canary Ingresses and ' +
        'cannot roll this canary out without one; add trafficRouting.gatewayAPI.httpRoute or ' +
        'trafficRouting.nginx.stableIngress (a canary without a traffic router is planned)',
    );
    return undefined;
  }
  const plugins = isObject(routing.plugins) ? routing.plugins : {};
  for (const name of Object.keys(plugins).filter((plugin) => plugin !== GATEWAY_API_PLUGIN)) {
    note(
      `${at}.plugins["${name}"]`,
      'not carried over: Siirto routes through the Gateway API and ingress-nginx only',
    );
  }
  for (const router of Object.keys(routing).filter(
    (key) => !['plugins', 'managedRoutes', 'nginx'].includes(key),
  )) {
    note(
      `${at}.${router}`,
      router === 'maxTrafficWeight'
        ? "not carried over: Siirto's weights are percentages of 100"
        : 'not carried over: Siirto routes through the Gateway API (HTTPRoute weights) and ingress-nginx ' +
            '(canary Ingresses) only',
    );
  }
  const plugin = plugins[GATEWAY_API_PLUGIN];
  const gatewayAPI = isObject(plugin)
    ? convertGatewayApiPlugin(plugin, `${at}.plugins["${GATEWAY_API_PLUGIN}"]`, note, context)
    : undefined;
  const nginx = isObject(routing.nginx) ? convertNginx(routing.nginx, `${at}.nginx`, note) : undefined;
  if (!gatewayAPI && !nginx) {
    if (!isObject(plugin) && !isObject(routing.nginx)) {
      note(
        at,
        `has no ${GATEWAY_API_PLUGIN} plugin and no nginx, so Siirto has no route to shift traffic through`,
      );
    }
    return undefined;
  }
  // Header and mirror routes (setHeaderRoute, setMirrorRoute) are named here, in Argo's shape.
  return {
    ...(gatewayAPI ? { gatewayAPI } : {}),
    ...(nginx ? { nginx } : {}),
    ...pick(routing, ['managedRoutes']),
  };
}

function convertGatewayApiPlugin(plugin: Json, pluginAt: string, note: Note, context: ReferenceContext) {
  noteRouteNamespace(plugin.namespace, `${pluginAt}.namespace`, note, context);
  for (const field of Object.keys(plugin).filter(
    (key) => !['httpRoute', 'httpRoutes', 'namespace'].includes(key),
  )) {
    note(`${pluginAt}.${field}`, 'not carried over: Siirto sets the weights of HTTPRoutes only');
  }
  const routes = objectsIn(plugin.httpRoutes).map((route, index) => {
    if (route.useHeaderRoutes !== undefined) {
      note(
        `${pluginAt}.httpRoutes[${index}].useHeaderRoutes`,
        'not carried over: Siirto sets the weights of every route it is given',
      );
    }
    return { name: route.name };
  });
  const gatewayAPI =
    typeof plugin.httpRoute === 'string'
      ? { httpRoute: plugin.httpRoute }
      : routes.length > 0
        ? { httpRoutes: routes }
        : undefined;
  if (!gatewayAPI) {
    note(pluginAt, 'names no httpRoute or httpRoutes, so Siirto has no route to shift traffic through');
  }
  return gatewayAPI;
}

/** Argo's nginx block as it is: Siirto names its canary Ingresses as Argo does and reads the same fields. */
function convertNginx(nginx: Json, at: string, note: Note): Json | undefined {
  for (const field of Object.keys(nginx).filter((key) => !NGINX_FIELDS.includes(key))) {
    note(
      `${at}.${field}`,
      field === 'canaryIngressAnnotations'
        ? 'not carried over: write the canary annotations in additionalIngressAnnotations, without the prefix'
        : 'not carried over: Siirto reads stableIngress(es), annotationPrefix and additionalIngressAnnotations',
    );
  }
  if (typeof nginx.stableIngress !== 'string' && !Array.isArray(nginx.stableIngresses)) {
    note(at, 'names no stableIngress or stableIngresses, so Siirto has no Ingress to shift traffic through');
    return undefined;
  }
  return pick(nginx, NGINX_FIELDS);
}

function noteRouteNamespace(namespace: unknown, at: string, note: Note, context: ReferenceContext): void {
  if (namespace === undefined || namespace === context.rolloutNamespace) return;
  note(
    at,
    typeof context.rolloutNamespace === 'string'
      ? `not carried over: Siirto uses HTTPRoutes in the Rollout's namespace (${context.rolloutNamespace}), not ${String(namespace)}`
      : `not carried over: Siirto uses HTTPRoutes in the Rollout's namespace; apply the Rollout in ${String(namespace)}`,
  );
}

function convertStep(step: Json, at: string, note: Note, context: ReferenceContext): Json | undefined {
  const [kind] = Object.keys(step);
  if (kind !== undefined && STEPS_AS_THEY_ARE.includes(kind)) {
    const pause = isObject(step.pause) ? step.pause : undefined;
    if (pause?.duration !== undefined && !readablePause(pause.duration)) {
      note(
        `${at}.pause.duration`,
        `${JSON.stringify(pause.duration)} is no duration Siirto reads: write it like 30s, 5m, 1h or 10 (seconds)`,
      );
    }
    return step;
  }
  if (kind === 'analysis' && isObject(step.analysis)) {
    const analysis = convertAnalysisReference(step.analysis, `${at}.analysis`, note, context);
    if (!analysis) note(at, 'left out: an analysis step needs a template Siirto can measure');
    return analysis ? { analysis } : undefined;
  }
  note(at, `left out: ${STEPS_DROPPED[kind ?? ''] ?? `Siirto has no ${kind ?? 'empty'} step`}`);
  return undefined;
}

function readablePause(duration: unknown): boolean {
  return (
    (typeof duration === 'string' || typeof duration === 'number') &&
    parsePauseDuration(duration) !== undefined
  );
}

/** Blue-green under Argo's field names, which Siirto takes as they are. */
function convertBlueGreen(blueGreen: Json, note: Note, context: ReferenceContext): Json {
  const at = 'spec.strategy.blueGreen';
  noteDropped(blueGreen, at, BLUE_GREEN_DROPPED, note);
  const analyses = Object.fromEntries(
    (['prePromotionAnalysis', 'postPromotionAnalysis'] as const).flatMap((field) => {
      const reference = blueGreen[field];
      if (!isObject(reference)) return [];
      const analysis = convertAnalysisReference(reference, `${at}.${field}`, note, context);
      return analysis ? [[field, analysis]] : [];
    }),
  );
  return { ...pick(blueGreen, BLUE_GREEN_FIELDS), ...analyses };
}
