import * as k8s from '@kubernetes/client-node';
import type { HttpRouteRule } from '../../activities/traffic-routers/http-route';
import type { RolloutStatus } from '../../schemas/rollout';
import { POD_TEMPLATE_HASH_LABEL } from '../../kubernetes/labels';
import { kubeClients } from './kube';

/** Every canary weight a route was seen with, as it changed, with when this process saw it. */
export interface CanaryWeightWatch {
  changes: { weight: number; at: number }[];
  stop(): void;
}

/** What a user sees of a rollout with kubectl: the Rollout's status, the route's weights, the pods. */
export function observer(namespace: string) {
  const { apps, config, core, custom } = kubeClients();

  /** Watches the namespace's HTTPRoutes for the weight of `<app>-canary` in their first rule. */
  async function watchCanaryWeight(app: string): Promise<CanaryWeightWatch> {
    const changes: CanaryWeightWatch['changes'] = [];
    const controller = await new k8s.Watch(config).watch(
      `/apis/gateway.networking.k8s.io/v1/namespaces/${namespace}/httproutes`,
      {},
      (_type, route: { spec: { rules: { backendRefs: { name: string; weight: number }[] }[] } }) => {
        const canary = route.spec.rules[0]?.backendRefs.find((ref) => ref.name === `${app}-canary`);
        changes.push({ weight: canary?.weight ?? -1, at: Date.now() });
      },
      () => undefined,
    );
    return { changes, stop: () => controller.abort() };
  }

  async function rolloutStatus(name: string): Promise<RolloutStatus> {
    const rollout = (await custom.getNamespacedCustomObject({
      group: 'siirto.dev',
      version: 'v1alpha1',
      namespace,
      plural: 'rollouts',
      name,
    })) as { status?: RolloutStatus };
    return rollout.status ?? {};
  }

  /** The route's rules as the apiserver has them. */
  async function routeRules(name: string): Promise<HttpRouteRule[]> {
    const route = (await custom.getNamespacedCustomObject({
      group: 'gateway.networking.k8s.io',
      version: 'v1',
      namespace,
      plural: 'httproutes',
      name,
    })) as { spec: { rules: HttpRouteRule[] } };
    return route.spec.rules;
  }

  /** Weights of each backend on the route, by Service name, across all its rules. */
  async function routeWeights(name: string): Promise<Record<string, number>> {
    const weights: Record<string, number> = {};
    for (const rule of await routeRules(name)) {
      for (const ref of rule.backendRefs ?? []) weights[ref.name] = ref.weight ?? 1;
    }
    return weights;
  }

  async function replicaSets(app: string) {
    const list = await apps.listNamespacedReplicaSet({ namespace, labelSelector: `app=${app}` });
    return list.items.map((replicaSet) => ({
      name: replicaSet.metadata?.name ?? '',
      hash: replicaSet.metadata?.labels?.[POD_TEMPLATE_HASH_LABEL] ?? '',
      replicas: replicaSet.spec?.replicas ?? 0,
      readyReplicas: replicaSet.status?.readyReplicas ?? 0,
      availableReplicas: replicaSet.status?.availableReplicas ?? 0,
    }));
  }

  /** The replicas a revision's ReplicaSet asks for, or undefined while it has none. */
  async function replicasOf(app: string, hash: string | undefined): Promise<number | undefined> {
    return (await replicaSets(app)).find((replicaSet) => replicaSet.hash === hash)?.replicas;
  }

  async function readyPods(hash: string): Promise<number> {
    const pods = await core.listNamespacedPod({
      namespace,
      labelSelector: `${POD_TEMPLATE_HASH_LABEL}=${hash}`,
    });
    return pods.items.filter(
      (pod) =>
        !pod.metadata?.deletionTimestamp &&
        pod.status?.conditions?.some(
          (condition) => condition.type === 'Ready' && condition.status === 'True',
        ),
    ).length;
  }

  /** The Events recorded on a Rollout, as `kubectl describe rollout` lists them. */
  async function rolloutEvents(name: string) {
    const events = await core.listNamespacedEvent({
      namespace,
      fieldSelector: `involvedObject.kind=Rollout,involvedObject.name=${name}`,
    });
    return events.items.map((event) => ({
      type: event.type ?? '',
      reason: event.reason ?? '',
      message: event.message ?? '',
    }));
  }

  async function serviceSelector(name: string): Promise<Record<string, string>> {
    const service = await core.readNamespacedService({ name, namespace });
    return service.spec?.selector ?? {};
  }

  return {
    rolloutStatus,
    routeWeights,
    routeRules,
    watchCanaryWeight,
    replicaSets,
    replicasOf,
    readyPods,
    rolloutEvents,
    serviceSelector,
  };
}

/** The rules with the weights Siirto sets zeroed: what is left is what the user wrote. */
export function withoutWeights(rules: HttpRouteRule[]): string {
  return JSON.stringify(rules).replace(/"weight":\d+/g, '"weight":0');
}
