import * as k8s from '@kubernetes/client-node';
import { stack } from './stack';

/** Clients for the local stack's API server, as its admin. */
export function kubeClients() {
  const config = new k8s.KubeConfig();
  config.loadFromFile(stack.kubeconfig);
  return {
    config,
    core: config.makeApiClient(k8s.CoreV1Api),
    apps: config.makeApiClient(k8s.AppsV1Api),
    custom: config.makeApiClient(k8s.CustomObjectsApi),
    networking: config.makeApiClient(k8s.NetworkingV1Api),
  };
}

/**
 * When a field manager last wrote the object (or the named subresource of it), as the apiserver
 * recorded it in managedFields: to the whole second, on a clock no test's polling delays.
 */
export function lastWriteBy(
  managedFields: { manager?: string; time?: Date | string; subresource?: string }[] | undefined,
  manager: string,
  subresource?: string,
): number {
  const entry = managedFields?.find(
    (field) => field.manager === manager && (field.subresource || undefined) === subresource,
  );
  if (!entry?.time) throw new Error(`no write by ${manager} recorded`);
  return new Date(entry.time).getTime();
}
