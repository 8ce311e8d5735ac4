// What `npm run chaos` measures of traffic sent to a ReplicaSet with no Ready pod, and whose doing it
// was. Routes, Services and pods are watched separately, and separate watches deliver independently:
// a route change can arrive before a pod change the apiserver stored first. So every change is kept
// with its resourceVersion and the whole is replayed afterwards in the order etcd stored it (the
// stack's one etcd gives every write one revision, across all kinds), not in the order it arrived.
import * as k8s from '@kubernetes/client-node';
import { POD_TEMPLATE_HASH_LABEL } from '../kubernetes/labels';

export type Kind = 'route' | 'service' | 'pod';

/** A weighted backend of a route: the Service and its weight. */
export interface Backend {
  service: string;
  weight: number;
}

/** What the replay needs of each kind of object. */
export interface Values {
  route: Backend[];
  /** The pod-template hash the Service selects, if it selects by one. */
  service: string | undefined;
  pod: { hash: string; ready: boolean };
}

/** One change, as the apiserver stored it (`rv`) and as this process received it (`at`). */
export type Change = {
  [K in Kind]:
    | { kind: K; rv: bigint; at: number; name: string; value: Values[K] | undefined }
    // A fresh list: the whole of that kind as of `rv`, replacing what was known.
    | { kind: K; rv: bigint; at: number; snapshot: Map<string, Values[K]> };
}[Kind];

/** A time some share of traffic pointed at a Service whose pods had none Ready. */
export interface Starving {
  /** `route/service` */
  backend: string;
  /** The change that began it: a route or Service write is Siirto's choice; a pod change is not. */
  began: { kind: Kind; name: string; rv: bigint; at: number };
  ended?: { kind: Kind; name: string; rv: bigint; at: number };
  /** Receipt time of the end minus that of the beginning, never below 0. */
  ms: number;
}

/** Replays the changes in etcd's order and returns every time a weighted share had no Ready pod. */
export function starvingShares(changes: readonly Change[], endAt: number): Starving[] {
  const ordered = [...changes].sort((a, b) => (a.rv < b.rv ? -1 : a.rv > b.rv ? 1 : a.at - b.at));
  const state = {
    route: new Map<string, Backend[]>(),
    service: new Map<string, string | undefined>(),
    pod: new Map<string, Values['pod']>(),
  };
  const open = new Map<string, Starving>();
  const done: Starving[] = [];
  for (const change of ordered) {
    const known = state[change.kind] as Map<string, unknown>;
    if ('snapshot' in change) {
      known.clear();
      for (const [name, value] of change.snapshot) known.set(name, value);
    } else if (change.value === undefined) known.delete(change.name);
    else known.set(change.name, change.value);

    const readyByHash = new Map<string, number>();
    for (const { hash, ready } of state.pod.values()) {
      if (ready) readyByHash.set(hash, (readyByHash.get(hash) ?? 0) + 1);
    }
    const starving = new Set<string>();
    for (const [route, backends] of state.route) {
      for (const { service, weight } of backends) {
        // A Service Siirto has not pointed at a revision yet selects the app's pods by their labels.
        const hash = state.service.get(service);
        if (weight > 0 && hash && !readyByHash.get(hash)) starving.add(`${route}/${service}`);
      }
    }
    const mark = {
      kind: change.kind,
      name: 'snapshot' in change ? '(list)' : change.name,
      rv: change.rv,
      at: change.at,
    };
    for (const backend of starving) {
      if (!open.has(backend)) open.set(backend, { backend, began: mark, ms: 0 });
    }
    for (const [backend, interval] of open) {
      if (starving.has(backend)) continue;
      done.push({ ...interval, ended: mark, ms: Math.max(0, mark.at - interval.began.at) });
      open.delete(backend);
    }
  }
  for (const interval of open.values())
    done.push({ ...interval, ms: Math.max(0, endAt - interval.began.at) });
  return done;
}

/** `route` and `service` changes are Siirto's writes; `pod` changes are the pods' own (readiness, deletion). */
export const chosenBySiirto = (interval: Starving): boolean => interval.began.kind !== 'pod';

interface RouteObject {
  metadata: { name: string; resourceVersion: string };
  spec: { rules: { backendRefs?: { name: string; weight?: number }[] }[] };
}

const parse = {
  route: (route: RouteObject): Values['route'] =>
    route.spec.rules.flatMap((rule) =>
      (rule.backendRefs ?? []).map((ref) => ({ service: ref.name, weight: ref.weight ?? 1 })),
    ),
  service: (service: k8s.V1Service): Values['service'] => service.spec?.selector?.[POD_TEMPLATE_HASH_LABEL],
  pod: (pod: k8s.V1Pod): Values['pod'] => ({
    hash: pod.metadata?.labels?.[POD_TEMPLATE_HASH_LABEL] ?? '',
    // A pod being deleted leaves its Service's endpoints as ready=false, even while its Ready stays True.
    ready:
      !pod.metadata?.deletionTimestamp &&
      (pod.status?.conditions ?? []).some(
        (condition) => condition.type === 'Ready' && condition.status === 'True',
      ),
  }),
};

/**
 * Lists, then watches from the list's version, the namespace's routes, Services and pods, keeping every
 * change with its resourceVersion; a watch that ends (as when the apiserver restarts) is listed anew.
 */
export function recordTraffic(config: k8s.KubeConfig, namespace: string, now: () => number) {
  const core = config.makeApiClient(k8s.CoreV1Api);
  const custom = config.makeApiClient(k8s.CustomObjectsApi);
  const changes: Change[] = [];
  let stopped = false;
  const connections = new Set<AbortController>();
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  const follow = async <K extends Kind, T extends { metadata?: { name?: string; resourceVersion?: string } }>(
    kind: K,
    path: string,
    list: () => Promise<{ items: T[]; metadata?: { resourceVersion?: string } }>,
    value: (object: T) => Values[K],
  ) => {
    while (!stopped) {
      try {
        const listed = await list();
        const snapshot = new Map<string, Values[K]>();
        for (const item of listed.items) snapshot.set(item.metadata?.name ?? '', value(item));
        changes.push({
          kind,
          rv: BigInt(listed.metadata?.resourceVersion ?? '0'),
          at: now(),
          snapshot,
        } as Change);
        await new Promise<void>((resolve) => {
          let connection: AbortController | undefined;
          const end = () => {
            if (connection) connections.delete(connection);
            connection?.abort();
            resolve();
          };
          new k8s.Watch(config)
            .watch(
              path,
              { resourceVersion: listed.metadata?.resourceVersion },
              (type: string, object: T) => {
                if (type === 'ERROR') return end();
                if (type !== 'ADDED' && type !== 'MODIFIED' && type !== 'DELETED') return;
                changes.push({
                  kind,
                  rv: BigInt(object.metadata?.resourceVersion ?? '0'),
                  at: now(),
                  name: object.metadata?.name ?? '',
                  value: type === 'DELETED' ? undefined : value(object),
                } as Change);
              },
              end,
            )
            .then((controller) => {
              connection = controller;
              connections.add(controller);
              if (stopped) end();
            }, end);
        });
      } catch {
        // The apiserver is away: list again shortly.
      }
      if (!stopped) await sleep(250);
    }
  };

  // Each follows its kind until `stop`, listing again after any failure, so none rejects.
  void follow(
    'route',
    `/apis/gateway.networking.k8s.io/v1/namespaces/${namespace}/httproutes`,
    () =>
      custom.listNamespacedCustomObject({
        group: 'gateway.networking.k8s.io',
        version: 'v1',
        namespace,
        plural: 'httproutes',
      }) as Promise<{ items: RouteObject[]; metadata?: { resourceVersion?: string } }>,
    parse.route,
  );
  void follow(
    'service',
    `/api/v1/namespaces/${namespace}/services`,
    () => core.listNamespacedService({ namespace }),
    parse.service,
  );
  void follow(
    'pod',
    `/api/v1/namespaces/${namespace}/pods`,
    () => core.listNamespacedPod({ namespace }),
    parse.pod,
  );

  return {
    starving: () => starvingShares(changes, now()),
    stop: () => {
      stopped = true;
      for (const connection of connections) connection.abort();
    },
  };
}
