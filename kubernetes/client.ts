import * as k8s from '@kubernetes/client-node';
import { withSharedAgents } from './shared-agents';

/**
 * Loads the Kubernetes connection the way kubectl does: $KUBECONFIG or ~/.kube/config, and the
 * service account when running in a cluster.
 */
export function loadKubeConfig(): k8s.KubeConfig {
  const config = new k8s.KubeConfig();
  config.loadFromDefault();
  if (!config.getCurrentCluster()) {
    throw new Error(
      'no Kubernetes cluster configured: set KUBECONFIG, or run inside a cluster with a service account',
    );
  }
  // One keep-alive agent per set of TLS options rather than a new TLS connection per request (shared-agents.ts).
  return withSharedAgents(config);
}

export interface KubeClients {
  config: k8s.KubeConfig;
  core: k8s.CoreV1Api;
  apps: k8s.AppsV1Api;
  custom: k8s.CustomObjectsApi;
  networking: k8s.NetworkingV1Api;
  objects: k8s.KubernetesObjectApi;
}

export function makeKubeClients(config: k8s.KubeConfig = loadKubeConfig()): KubeClients {
  return {
    config,
    core: config.makeApiClient(k8s.CoreV1Api),
    apps: config.makeApiClient(k8s.AppsV1Api),
    custom: config.makeApiClient(k8s.CustomObjectsApi),
    networking: config.makeApiClient(k8s.NetworkingV1Api),
    objects: k8s.KubernetesObjectApi.makeApiClient(config),
  };
}
