import * as k8s from '@kubernetes/client-node';
import { POD_TEMPLATE_HASH_LABEL } from '../../kubernetes/labels';
import { kubeClients } from './kube';

/** A moment the Service selected a pod that was not Ready (and not on its way out). */
export interface UnreadySelection {
  at: number;
  selectedHash: string;
  pod: string;
}

/** What a watch of one Service and the namespace's pods saw. */
export interface ServicePodsWatch {
  /** Each revision the Service's selector named, in order, with when this process saw it. */
  selections: { hash: string | undefined; at: number }[];
  /** Every moment the Service selected a pod that was not Ready. */
  unreadySelections: UnreadySelection[];
  /** The pods seen so far, by name. */
  pods: Map<string, { hash?: string; ready: boolean; terminating: boolean; labels: Record<string, string> }>;
  stop(): void;
}

interface PodEvent {
  metadata?: { name?: string; labels?: Record<string, string>; deletionTimestamp?: string };
  status?: { conditions?: { type: string; status: string }[] };
}

interface ServiceEvent {
  spec?: { selector?: Record<string, string> };
}

/**
 * Watches a Service's selector and the pods of its namespace, and notes each moment the Service
 * selects, by the pod-template hash Siirto puts in its selector, a pod that is not Ready. Pods being
 * deleted are left out: the Service's endpoints drop them however they are selected.
 */
export async function watchServicePods(namespace: string, service: string): Promise<ServicePodsWatch> {
  const { config } = kubeClients();
  const watch = new k8s.Watch(config);
  const result: ServicePodsWatch = {
    selections: [],
    unreadySelections: [],
    pods: new Map(),
    stop: () => undefined,
  };
  let selected: string | undefined;
  const check = () => {
    if (selected === undefined) return;
    for (const [name, pod] of result.pods) {
      if (pod.hash === selected && !pod.terminating && !pod.ready) {
        result.unreadySelections.push({ at: Date.now(), selectedHash: selected, pod: name });
      }
    }
  };
  const pods = await watch.watch(
    `/api/v1/namespaces/${namespace}/pods`,
    {},
    (type: string, pod: PodEvent) => {
      const name = pod.metadata?.name ?? '';
      if (type === 'DELETED') result.pods.delete(name);
      else {
        const labels = pod.metadata?.labels ?? {};
        result.pods.set(name, {
          hash: labels[POD_TEMPLATE_HASH_LABEL],
          labels,
          terminating: pod.metadata?.deletionTimestamp !== undefined,
          ready:
            pod.status?.conditions?.some(
              (condition) => condition.type === 'Ready' && condition.status === 'True',
            ) ?? false,
        });
      }
      check();
    },
    () => undefined,
  );
  const services = await watch.watch(
    `/api/v1/namespaces/${namespace}/services`,
    { fieldSelector: `metadata.name=${service}` },
    (_type: string, object: ServiceEvent) => {
      const hash = object.spec?.selector?.[POD_TEMPLATE_HASH_LABEL];
      if (hash !== selected || result.selections.length === 0)
        result.selections.push({ hash, at: Date.now() });
      selected = hash;
      check();
    },
    () => undefined,
  );
  result.stop = () => {
    pods.abort();
    services.abort();
  };
  return result;
}
