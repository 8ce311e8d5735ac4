import * as k8s from '@kubernetes/client-node';
import { createHash } from 'node:crypto';
import { apiMessage, apiStatus } from '../kubernetes/errors';
import { ROLLOUT_GROUP, ROLLOUT_PLURAL, ROLLOUT_VERSION } from '../schemas/rollout';
import type { Logger } from '../observability/log';
import type { RolloutKey } from './rollout-status';

/**
 * Tells which Rollouts changed: a list, then a watch from the list's resourceVersion. client-node's
 * informer re-lists by itself when the apiserver answers 410 Gone (the version fell out of its
 * window); after any other failure it stops, and this restarts it with exponential backoff.
 */

/**
 * What an event changed: `status` when only the status did (the generation, labels, annotations,
 * finalizers and deletion are as the last event for the Rollout had them), `object` otherwise (a new
 * spec, a command annotation, a deletion, a Rollout seen for the first time).
 */
export type RolloutChange = 'object' | 'status';

export interface RolloutWatchOptions {
  /** Watch one namespace only; all namespaces when undefined. */
  namespace?: string;
  onChange: (key: RolloutKey, change: RolloutChange) => void;
  log: Logger;
  /** Called each time the watch fails and a restart is scheduled, for the bridge's metrics. */
  onRestart?: () => void;
  initialBackoffMs?: number;
  maximumBackoffMs?: number;
}

export interface RolloutWatch {
  /**
   * The Rollouts as the watch last saw them, from its cache: no call to the apiserver. Only their
   * metadata's name, namespace, uid and resourceVersion, and their status.phase, are kept.
   */
  watched(): readonly k8s.KubernetesObject[];
  stop(): Promise<void>;
}

interface WatchedObject {
  metadata?: { namespace?: string; name?: string };
}

/** One list of Rollouts, in a namespace or in all of them. */
function listRolloutObjects(custom: k8s.CustomObjectsApi, namespace?: string) {
  const type = { group: ROLLOUT_GROUP, version: ROLLOUT_VERSION, plural: ROLLOUT_PLURAL };
  return (
    namespace
      ? custom.listNamespacedCustomObject({ ...type, namespace })
      : custom.listClusterCustomObject(type)
  ) as Promise<k8s.KubernetesListObject<k8s.KubernetesObject>>;
}

/**
 * Lists Rollouts straight from the apiserver, for the periodic resync that does not trust any cache:
 * each with its key, and the object as listed, to tell whether it needs a reconcile at all.
 */
export async function listRollouts(
  custom: k8s.CustomObjectsApi,
  namespace?: string,
): Promise<{ key: RolloutKey; object: k8s.KubernetesObject }[]> {
  const list = await listRolloutObjects(custom, namespace);
  return list.items.flatMap((object) => {
    const key = keyOf(object);
    return key ? [{ key, object }] : [];
  });
}

export function keyOf(object: WatchedObject): RolloutKey | undefined {
  const { namespace, name } = object.metadata ?? {};
  return namespace && name ? { namespace, name } : undefined;
}

/**
 * Cuts a watched Rollout down to what the bridge uses of the watch's cache: its key, its
 * resourceVersion (which the informer compares to skip repeated events) and its phase (for the
 * metrics). The informer keeps the very object it hands to its handlers, so this is done in place;
 * whole, each Rollout would keep its spec, its managedFields and its status in the bridge's memory for
 * as long as it exists (tens of KiB each), though every reconcile reads the Rollout afresh anyway.
 */
function slim(object: k8s.KubernetesObject): void {
  const { name, namespace, uid, resourceVersion } = object.metadata ?? {};
  const phase = (object as { status?: { phase?: unknown } }).status?.phase;
  const whole = object as { spec?: unknown; status?: unknown };
  delete whole.spec;
  delete whole.status;
  object.metadata = { name, namespace, uid, resourceVersion };
  if (phase !== undefined) whole.status = { phase };
}

/**
 * All of a Rollout's metadata a reconcile acts on, as one digest: equal digests in two events mean
 * that only the status (or the bookkeeping of resourceVersion and managedFields) changed between them.
 * The uid tells a Rollout deleted and created again under its name, whose deletion the watch missed.
 */
function objectDigest(object: k8s.KubernetesObject): string {
  const { uid, generation, deletionTimestamp, finalizers, labels, annotations } = object.metadata ?? {};
  const text = JSON.stringify([uid, generation, deletionTimestamp, finalizers, labels, annotations]);
  return createHash('sha256').update(text).digest('base64');
}

export async function watchRollouts(
  config: k8s.KubeConfig,
  options: RolloutWatchOptions,
): Promise<RolloutWatch> {
  const { namespace, onChange, log } = options;
  const initialBackoffMs = options.initialBackoffMs ?? 1_000;
  const maximumBackoffMs = options.maximumBackoffMs ?? 30_000;
  const custom = config.makeApiClient(k8s.CustomObjectsApi);
  const base = `/apis/${ROLLOUT_GROUP}/${ROLLOUT_VERSION}`;
  const path = namespace ? `${base}/namespaces/${namespace}/${ROLLOUT_PLURAL}` : `${base}/${ROLLOUT_PLURAL}`;
  const list = () => listRolloutObjects(custom, namespace);
  // makeInformer builds a ListWatch, which is also the cache of what it watched; its declared type omits that.
  const informer = k8s.makeInformer<k8s.KubernetesObject>(
    config,
    path,
    list,
  ) as k8s.Informer<k8s.KubernetesObject> & k8s.ObjectCache<k8s.KubernetesObject>;

  let stopped = false;
  let failures = 0;
  let restartTimer: NodeJS.Timeout | undefined;
  /** The digest of each Rollout as its last event had it, to tell status-only changes apart. */
  const digests = new Map<string, string>();
  const changed = (object: k8s.KubernetesObject, event: 'add' | 'update' | 'delete') => {
    failures = 0;
    const key = keyOf(object);
    const digest = objectDigest(object);
    slim(object);
    if (!key) return;
    const text = `${key.namespace}/${key.name}`;
    const statusOnly = event === 'update' && digests.get(text) === digest;
    if (event === 'delete') digests.delete(text);
    else digests.set(text, digest);
    onChange(key, statusOnly ? 'status' : 'object');
  };
  informer.on(k8s.ADD, (object) => changed(object, 'add'));
  informer.on(k8s.UPDATE, (object) => changed(object, 'update'));
  informer.on(k8s.DELETE, (object) => changed(object, 'delete'));
  informer.on(k8s.ERROR, (error: unknown) => {
    if (stopped) return;
    failures += 1;
    const delayMs = Math.min(maximumBackoffMs, initialBackoffMs * 2 ** (failures - 1));
    const status = apiStatus(error) ?? (error as { statusCode?: number } | undefined)?.statusCode;
    const hint = status === 404 ? '; is the Rollout CRD installed? kubectl apply -f deploy/crds/' : '';
    log.warn(`watching Rollouts failed; restarting in ${delayMs} ms${hint}`, {
      error: apiMessage(error),
      failures,
    });
    options.onRestart?.();
    restartTimer = setTimeout(() => {
      restartTimer = undefined;
      // A failed restart comes back through this ERROR handler, which schedules the next one.
      if (!stopped) void informer.start();
    }, delayMs);
  });
  await informer.start();
  log.info('watching Rollouts', { scope: namespace ?? 'all namespaces' });

  return {
    watched: () => informer.list(),
    async stop() {
      stopped = true;
      if (restartTimer) clearTimeout(restartTimer);
      await informer.stop();
    },
  };
}
