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
