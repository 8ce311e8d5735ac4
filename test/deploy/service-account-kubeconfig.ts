import * as k8s from '@kubernetes/client-node';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { runOrThrow } from '../harness/commands';
import { stack } from '../harness/stack';

/**
 * Writes a kubeconfig that talks to the local stack as a service account, with a token minted by
 * `kubectl create token`: what a pod running as that account would get, outside a pod.
 */
export async function serviceAccountKubeconfig(
  namespace: string,
  serviceAccount: string,
  directory: string,
): Promise<string> {
  const admin = new k8s.KubeConfig();
  admin.loadFromFile(stack.kubeconfig);
  const cluster = admin.getCurrentCluster();
  if (!cluster) throw new Error(`${stack.kubeconfig} has no current cluster`);
  const token = (
    await runOrThrow('kubectl', ['create', 'token', serviceAccount, '-n', namespace, '--duration', '1h'])
  ).trim();
  const file = path.join(directory, `${serviceAccount}.kubeconfig`);
  const user = `system:serviceaccount:${namespace}:${serviceAccount}`;
  writeFileSync(
    file,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        {
          name: cluster.name,
          cluster: {
            server: cluster.server,
            ...(cluster.caFile ? { 'certificate-authority': cluster.caFile } : {}),
            ...(cluster.caData ? { 'certificate-authority-data': cluster.caData } : {}),
          },
        },
      ],
      users: [{ name: user, user: { token } }],
      contexts: [{ name: user, context: { cluster: cluster.name, user, namespace } }],
      'current-context': user,
    }),
    { mode: 0o600 },
  );
  return file;
}
