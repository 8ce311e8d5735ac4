import type * as k8s from '@kubernetes/client-node';
import { ApplicationFailure } from '@temporalio/common';
import type { KubeClients } from '../../../kubernetes/client';
import { isConflict, isNotFound } from '../../../kubernetes/errors';
import { FIELD_MANAGER } from '../../../kubernetes/labels';
import { lastWriterOf } from '../../../kubernetes/managed-fields';
import { retryOnConflict } from '../../../kubernetes/retry-on-conflict';
import { FailureType } from '../../../reasons/rollout-reasons';
import type { TrafficWeights } from '../../../schemas/rollout';
import { rethrowKubernetesError } from '../../kubernetes-failures';
import { readThenWatch } from '../../kubernetes-watch';
import { describeRollout } from '../../rollout-reader';
import { forEachRoutingObject } from '../each-routing-object';
import type {
  ManagedRoute,
  RoutedWeights,
  RoutingTarget,
  TrafficRouter,
  TrafficWeightChange,
  WeightDrift,
} from '../traffic-router';
import {
  additionalAnnotationProblems,
  headerStepProblems,
  mirrorProblem,
  canaryIngressFor,
  canaryIngressName,
  canaryStateOf,
  copiedSpec,
  describeIngress,
  ingressHeaderRoute,
  nginxSettings,
  ownedBy,
  sameWrittenParts,
  stableIngressProblem,
  withWrittenParts,
  type CanaryState,
  type IngressHeaderRoute,
  type NginxSettings,
} from './canary-ingress';
import { isDeepStrictEqual } from 'node:util';

/**
 * ingress-nginx as a traffic router: beside each stable Ingress the Rollout names, a canary Ingress of
 * Siirto's own (a copy sending to the canary Service, with `canary: "true"` and `canary-weight`), kept
 * while it carries anything (a weight above 0, or a step's header route) and deleted once it carries
 * nothing. The user's Ingress is only read.
 */

/** What a write asks of a canary Ingress: a weight, a header route set or removed; the rest kept. */
interface CanaryChange {
  weight?: number;
  /** A route to set; `null` removes the header route of one of `removeNames` (any, when absent). */
  headerRoute?: IngressHeaderRoute | null;
  removeNames?: readonly string[];
}

const ingressesPath = (namespace: string) =>
  `/apis/networking.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/ingresses`;

async function readIngress(
  kube: KubeClients,
  namespace: string,
  name: string,
): Promise<k8s.V1Ingress | undefined> {
  try {
    return await kube.networking.readNamespacedIngress({ name, namespace });
  } catch (error) {
    if (isNotFound(error)) return undefined;
    rethrowKubernetesError(error, { action: `reading ${describeIngress(namespace, name)}` });
  }
}

/** Whether a canary carrying this needs to exist at all: ingress-nginx sends it nothing otherwise. */
const carriesTraffic = (state: CanaryState) => state.weight > 0 || state.headerRoute !== undefined;

function splitOf(target: RoutingTarget, canaryWeight: number): TrafficWeights {
  return { stable: 100 - canaryWeight, canary: canaryWeight };
}

export function nginxIngressRouter(kube: KubeClients): TrafficRouter {
  const settingsOf = (target: RoutingTarget) => nginxSettings(target.trafficRouting, target.field);

  /**
   * Brings one canary Ingress to what `change` asks, rebuilt from the stable Ingress as it is now (so
   * the copy follows its hosts and paths): created, replaced with the resourceVersion read, or, once it
   * carries nothing, set to weight 0 and deleted. A missing stable Ingress fails with type
   * `TrafficRouteMissing` unless the change only takes traffic away.
   */
  async function syncCanary(target: RoutingTarget, stableName: string, change: CanaryChange, action: string) {
    const { namespace } = target.rollout;
    const settings = settingsOf(target);
    const name = canaryIngressName(target.rollout.name, stableName);
    const described = describeIngress(namespace, name);
    await retryOnConflict(async () => {
      const [stable, existing] = await Promise.all([
        readIngress(kube, namespace, stableName),
        readIngress(kube, namespace, name),
      ]);
      if (existing && !ownedBy(existing, target.rollout)) {
        throw ApplicationFailure.nonRetryable(
          `${described} exists and is not ${describeRollout(target.rollout)}'s canary Ingress; ` +
            'delete or rename it, since Siirto keeps its canary Ingress under that name',
          FailureType.TrafficRouteMisconfigured,
        );
      }
      const current = existing ? canaryStateOf(existing, settings.prefix) : { weight: 0 };
      const state = nextState(current, change);
      // Without its stable Ingress a canary can still be retired, not built.
      if (!stable && carriesTraffic(state)) {
        throw ApplicationFailure.nonRetryable(
          `${describeIngress(namespace, stableName)}, named in ${settings.field} of ` +
            `${describeRollout(target.rollout)}, does not exist; create it with a path to Service ` +
            `${target.stableService}, or correct the name`,
          FailureType.TrafficRouteMissing,
        );
      }
      if (stable) {
        const problem = stableIngressProblem(stable, target, target.roles);
        if (problem && carriesTraffic(state)) {
          throw ApplicationFailure.nonRetryable(problem, FailureType.TrafficRouteMisconfigured);
        }
      }
      try {
        if (!stable || !carriesTraffic(state)) {
          if (existing) await retire(existing, settings, state);
          return;
        }
        const desired = canaryIngressFor(stable, { ...target, settings, state });
        if (!existing) {
          await kube.networking.createNamespacedIngress({
            namespace,
            body: desired,
            fieldManager: FIELD_MANAGER,
          });
          return;
        }
        // Writing an unchanged Ingress would only churn its resourceVersion and wake its controllers.
        if (sameWrittenParts(existing, desired)) return;
        // The resourceVersion read goes with it, so a concurrent edit fails it (409) and it is read again.
        await kube.networking.replaceNamespacedIngress({
          name,
          namespace,
          body: withWrittenParts(existing, desired),
          fieldManager: FIELD_MANAGER,
        });
      } catch (error) {
        if (isConflict(error)) throw error;
        rethrowKubernetesError(error, { action: `${action} on ${described}` });
      }
    });
  }

  /** Weight 0 first, so a controller that has not seen the deletion yet sends the canary nothing; then gone. */
  async function retire(existing: k8s.V1Ingress, settings: NginxSettings, state: CanaryState) {
    const { name = '', namespace = '' } = existing.metadata ?? {};
    let resourceVersion = existing.metadata?.resourceVersion;
    const weightKey = `${settings.prefix}/canary-weight`;
    if (existing.metadata?.annotations?.[weightKey] !== '0') {
      const annotations = { ...existing.metadata?.annotations, [weightKey]: String(state.weight) };
      const replaced = await kube.networking.replaceNamespacedIngress({
        name,
        namespace,
        body: { ...existing, metadata: { ...existing.metadata, annotations } },
        fieldManager: FIELD_MANAGER,
      });
      resourceVersion = replaced.metadata?.resourceVersion;
    }
    try {
      await kube.networking.deleteNamespacedIngress({
        name,
        namespace,
        body: { preconditions: { uid: existing.metadata?.uid, resourceVersion } },
      });
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }

  function forEachCanary(target: RoutingTarget, change: CanaryChange, action: string, everyIngress: boolean) {
    const names = settingsOf(target).stableIngresses.map((ingress) => ingress.name);
    return forEachRoutingObject(names, (stable) => syncCanary(target, stable, change, action), everyIngress);
  }

  const removeHeaderRoutes = (target: RoutingTarget, names?: readonly string[]) =>
    forEachCanary(
      target,
      { headerRoute: null, ...(names ? { removeNames: names } : {}) },
      names ? `removing managed routes ${names.join(', ')}` : 'removing the managed routes',
      // Taking Siirto's routes away, every canary that can lose them does.
      true,
    );

  return {
    field: 'nginx',
    handles: (trafficRouting) => trafficRouting.nginx !== undefined,

    async validate(target, mirrorSteps = [], headerSteps = []) {
      const settings = settingsOf(target);
      const { namespace } = target.rollout;
      const problems = [
        ...additionalAnnotationProblems(settings),
        ...mirrorSteps.map(mirrorProblem),
        ...headerStepProblems(headerSteps),
      ];
      const roles = target.roles ?? { stable: 'stable', canary: 'canary' };
      await Promise.all(
        settings.stableIngresses.map(async ({ name, field }) => {
          const stable = await readIngress(kube, namespace, name);
          if (!stable) {
            problems.push(
              `${field}: Ingress "${name}" not found in namespace ${namespace}; create it ` +
                `(networking.k8s.io/v1) with a path to the ${roles.stable} Service "${target.stableService}", ` +
                'or name an existing Ingress',
            );
            return;
          }
          const problem = stableIngressProblem(stable, target, roles);
          if (problem) problems.push(`${field}: ${problem}`);
          const canaryName = canaryIngressName(target.rollout.name, name);
          const clash = await readIngress(kube, namespace, canaryName);
          if (clash && !ownedBy(clash, target.rollout)) {
            problems.push(
              `${field}: ${describeIngress(namespace, canaryName)} exists and is not this Rollout's: Siirto ` +
                'keeps the canary Ingress under that name; delete it (an Argo Rollouts canary Ingress goes with ' +
                'its Rollout) or rename it',
            );
          }
        }),
      );
      return problems.sort();
    },

    async setWeights(change, checked) {
      await checked;
      const action = `setting canary-weight ${change.weights.canary}`;
      // Back to stable, every canary that can be moved is, whatever became of the others.
      return forEachCanary(change, { weight: change.weights.canary }, action, change.weights.canary === 0);
    },

    async readWeights(target): Promise<RoutedWeights[]> {
      const { namespace } = target.rollout;
      return Promise.all(
        settingsOf(target).stableIngresses.map(async ({ name }) => {
          const canaryName = canaryIngressName(target.rollout.name, name);
          const [stable, canary] = await Promise.all([
            readIngress(kube, namespace, name),
            readIngress(kube, namespace, canaryName),
          ]);
          const object = describeIngress(namespace, canaryName);
          if (!stable || stableIngressProblem(stable, target)) return { object };
          const weight = canary ? canaryStateOf(canary, settingsOf(target).prefix).weight : 0;
          return { object, weights: splitOf(target, weight) };
        }),
      );
    },

    watchForDrift(change, finished) {
      return Promise.race(
        settingsOf(change).stableIngresses.flatMap(({ name }) =>
          watchCanaryForDrift(kube, change, name, finished),
        ),
      );
    },

    async setManagedRoute(target, managed: ManagedRoute) {
      const header = ingressHeaderRoute(
        managed,
        `${managed.kind === 'header' ? 'setHeaderRoute' : 'setMirrorRoute'} "${managed.route.name}"`,
      );
      if ('problem' in header) throw ApplicationFailure.nonRetryable(header.problem, 'ManagedRouteInvalid');
      return forEachCanary(
        target,
        { headerRoute: header.route },
        `setting the managed route ${managed.route.name}`,
        false,
      );
    },
    removeManagedRoutes: (target, names) => removeHeaderRoutes(target, names),
    cleanUp: (target) => removeHeaderRoutes(target),
  };
}

/** The canary's weight and header route after `change`, from what it carries now. */
function nextState(current: CanaryState, change: CanaryChange): CanaryState {
  const weight = change.weight ?? current.weight;
  let headerRoute = current.headerRoute;
  if (change.headerRoute) headerRoute = change.headerRoute;
  else if (
    change.headerRoute === null &&
    (!change.removeNames || change.removeNames.includes(headerRoute?.name ?? ''))
  ) {
    headerRoute = undefined;
  }
  return { weight, ...(headerRoute ? { headerRoute } : {}) };
}

/**
 * Watches one stable Ingress and its canary until someone else changes the canary's weight or deletes
 * it, or the stable Ingress's hosts and paths change so the copy no longer matches them: each is told
 * as drift, and setting the weights again mends it.
 */
function watchCanaryForDrift(
  kube: KubeClients,
  change: TrafficWeightChange,
  stableName: string,
  finished: AbortSignal,
): Promise<WeightDrift>[] {
  const { namespace } = change.rollout;
  const { prefix } = nginxSettings(change.trafficRouting, change.field);
  const canaryName = canaryIngressName(change.rollout.name, stableName);
  const canaryDescribed = describeIngress(namespace, canaryName);
  /** The canary's hosts and paths as last seen, for the stable Ingress's edits to be compared with. */
  let canarySpec: unknown;
  let canaryRead: () => void = () => undefined;
  /** The stable Ingress is judged once the copy is known, so an edit made before the watch counts. */
  const canaryKnown = new Promise<void>((resolve) => (canaryRead = resolve));

  const canaryDrift = (canary: k8s.V1Ingress | undefined): WeightDrift | undefined => {
    canaryRead();
    if (!canary) {
      if (change.weights.canary === 0) return undefined;
      return {
        object: canaryDescribed,
        found: `${change.stableService}=100, ${change.canaryService}=0`,
        change: 'was deleted',
      };
    }
    canarySpec = JSON.parse(JSON.stringify(canary.spec ?? {}));
    const weight = canaryStateOf(canary, prefix).weight;
    if (weight === change.weights.canary) return undefined;
    const changedBy = lastWriterOf(canary.metadata?.managedFields, [
      'f:metadata',
      'f:annotations',
      `f:${prefix}/canary-weight`,
    ]);
    // Siirto's own write: a weight change under way that this watch was started before.
    if (changedBy?.manager === FIELD_MANAGER) return undefined;
    return {
      object: canaryDescribed,
      found: `${change.stableService}=${100 - weight}, ${change.canaryService}=${weight}`,
      ...(changedBy ? { changedBy } : {}),
    };
  };

  const stableDrift = (stable: k8s.V1Ingress | undefined): WeightDrift | undefined => {
    // A missing stable Ingress, or one Siirto cannot copy, is the next weight write's to report.
    if (!stable || canarySpec === undefined || stableIngressProblem(stable, change)) return undefined;
    if (isDeepStrictEqual(copiedSpec(stable, change), canarySpec)) return undefined;
    return {
      object: describeIngress(namespace, stableName),
      found: `hosts and paths that ${canaryDescribed} does not copy yet`,
      change: `had its hosts or paths changed; ${canaryDescribed} is copied from it again`,
    };
  };

  const watch = (
    name: string,
    judge: (ingress: k8s.V1Ingress | undefined) => WeightDrift | undefined,
    before?: Promise<void>,
  ) =>
    readThenWatch<k8s.V1Ingress, WeightDrift>(kube.config, {
      path: ingressesPath(namespace),
      selector: { fieldSelector: `metadata.name=${name}` },
      finished,
      read: async () => {
        await before;
        const ingress = await readIngress(kube, namespace, name);
        return { outcome: judge(ingress), resourceVersion: ingress?.metadata?.resourceVersion };
      },
      onEvent: ({ type, object }) => judge(type === 'DELETED' ? undefined : object),
    });

  return [watch(canaryName, canaryDrift), watch(stableName, stableDrift, canaryKnown)];
}
