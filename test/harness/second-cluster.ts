import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { freePort } from '../../observability/free-port';
import { run, runOrThrow } from './commands';
import { stack } from './stack';
import { waitFor } from './wait';

/** Where the running stack keeps what a second API server shares with it: etcd, certificates, CRDs. */
function stackLayout(): { etcdPort: string; pkiDir: string; gatewayApiCrds: string } {
  const script = [
    'source stack/lib.sh',
    'source stack/pki.sh',
    'printf "%s\\n" "$ETCD_PORT" "$PKI_DIR" "$CACHE_DIR/share/gateway-api-$GATEWAY_API_VERSION"',
  ].join(' && ');
  const output = execFileSync('bash', ['-c', script], {
    cwd: stack.projectDir,
    // The stack the tests run on is the one whose kubeconfig the global setup handed out.
    env: { ...process.env, SIIRTO_STACK_DIR: path.dirname(stack.kubeconfig) },
    encoding: 'utf8',
    timeout: 10_000,
  });
  const [etcdPort = '', pkiDir = '', gatewayApiCrds = ''] = output.trim().split('\n');
  return { etcdPort, pkiDir, gatewayApiCrds };
}

export interface SecondCluster {
  kubeconfig: string;
  /** kubectl against this cluster. */
  kubectl(args: string[], input?: string): Promise<string>;
  /** Kills its kube-apiserver (SIGKILL, as a crash would), keeping its objects: an outage of its API. */
  halt(): Promise<void>;
  /** Starts the kube-apiserver again on the same port and waits until it is ready. */
  resume(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A second Kubernetes cluster, for tests of what two clusters share (one Temporal namespace): a real
 * kube-apiserver of its own that keeps its objects in the stack's etcd under a prefix nothing else
 * uses, so no object of one cluster is seen by the other, with Siirto's CRDs and the Gateway API's.
 * It runs no controllers, scheduler or nodes: a ReplicaSet gets no pods there. That suits the bridge,
 * which only reads and writes Rollouts, Services and routes; its workflows stay as it left them when
 * no worker serves them, as in bridge-revisions.test.ts. Call it in beforeAll and stop it in afterAll,
 * which also removes its objects from etcd.
 */
export async function startSecondCluster(label: string): Promise<SecondCluster> {
  const { etcdPort, pkiDir, gatewayApiCrds } = stackLayout();
  const port = await freePort();
  const dir = path.join(stack.projectDir, 'test-artifacts', 'second-clusters', label);
  const logDir = path.join(stack.projectDir, 'test-artifacts', 'logs');
  mkdirSync(dir, { recursive: true });
  mkdirSync(logDir, { recursive: true });
  const etcdPrefix = `/siirto-test-clusters/${label}`;
  const log = createWriteStream(path.join(logDir, `${label}-kube-apiserver.log`), { flags: 'a' });
  const launch = () => {
    const child: ChildProcess = spawn(
      path.join(stack.binDir, 'kube-apiserver'),
      [
        `--etcd-servers=http://127.0.0.1:${etcdPort}`,
        `--etcd-prefix=${etcdPrefix}`,
        '--bind-address=127.0.0.1',
        `--secure-port=${port}`,
        '--advertise-address=127.0.0.1',
        '--endpoint-reconciler-type=none',
        `--tls-cert-file=${pkiDir}/kube-apiserver.crt`,
        `--tls-private-key-file=${pkiDir}/kube-apiserver.key`,
        `--client-ca-file=${pkiDir}/ca.crt`,
        '--authorization-mode=Node,RBAC',
        '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
        `--service-account-key-file=${pkiDir}/service-accounts.pub`,
        `--service-account-signing-key-file=${pkiDir}/service-accounts.key`,
        '--service-cluster-ip-range=10.96.0.0/16',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout?.pipe(log, { end: false });
    child.stderr?.pipe(log, { end: false });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    return { child, exited };
  };
  let apiserver = launch();

  // The stack's admin identity, pointed at this API server: the same CA signed its certificate.
  const kubeconfig = path.join(dir, 'kubeconfig');
  writeFileSync(
    kubeconfig,
    readFileSync(stack.kubeconfig, 'utf8').replace(
      /server: https:\/\/127\.0\.0\.1:\d+/,
      `server: https://127.0.0.1:${port}`,
    ),
  );
  const kubectl = (args: string[], input?: string) =>
    runOrThrow('kubectl', ['--kubeconfig', kubeconfig, ...args], input);

  const stop = async () => {
    const { child, exited } = apiserver;
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(killer);
    await deleteEtcdPrefix(etcdPort, `${etcdPrefix}/`);
  };
  const ready = () =>
    waitFor(
      `the second cluster's kube-apiserver on port ${port} to be ready`,
      async () =>
        apiserver.child.exitCode === null &&
        (
          await run('kubectl', [
            '--kubeconfig',
            kubeconfig,
            '--request-timeout=2s',
            'get',
            '--raw',
            '/readyz',
          ])
        ).code === 0,
      { timeoutMs: 120_000, intervalMs: 250 },
    );
  const halt = async () => {
    apiserver.child.kill('SIGKILL');
    await apiserver.exited;
  };
  const resume = async () => {
    apiserver = launch();
    await ready();
  };
  try {
    await ready();
    // Directories with a trailing slash, which kubectl reads as such even through a symbolic link.
    await kubectl(['apply', '--server-side', '-f', `${path.join(stack.projectDir, 'deploy', 'crds')}/`]);
    await kubectl(['apply', '--server-side', '-f', `${gatewayApiCrds}/`]);
    await kubectl([
      'wait',
      '--for=condition=Established',
      'crd/rollouts.siirto.dev',
      'crd/httproutes.gateway.networking.k8s.io',
      '--timeout=60s',
    ]);
    // As the stack's own cluster has them when the run is told to (see global-setup.ts).
    if (process.env.SIIRTO_STACK_ARGO_ROLLOUTS_CRDS === '1') {
      await runOrThrow('bash', [
        path.join(stack.projectDir, 'stack', 'argo-rollouts-crds.sh'),
        'install',
        kubeconfig,
      ]);
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { kubeconfig, kubectl, halt, resume, stop };
}

/** Removes every key under the prefix through etcd's JSON gateway, so the stack's etcd keeps nothing of it. */
async function deleteEtcdPrefix(etcdPort: string, prefix: string): Promise<void> {
  const key = Buffer.from(prefix);
  const end = Buffer.from(key);
  end[end.length - 1] = (end[end.length - 1] ?? 0) + 1;
  await fetch(`http://127.0.0.1:${etcdPort}/v3/kv/deleterange`, {
    method: 'POST',
    body: JSON.stringify({ key: key.toString('base64'), range_end: end.toString('base64') }),
  }).catch(() => undefined);
}
