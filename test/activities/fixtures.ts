import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { makeKubeClients, type KubeClients } from '../../kubernetes/client';
import { podTemplateHash } from '../../schemas/pod-template-hash';
import {
  ROLLOUT_GROUP,
  ROLLOUT_PLURAL,
  ROLLOUT_VERSION,
  RolloutSchema,
  type Rollout,
} from '../../schemas/rollout';
import type { RolloutRef } from '../../workflows/rollout-api';
import { runOrThrow } from '../harness/commands';
import { kubeClients } from '../harness/kube';

/** The clients activities take, on the local stack's apiserver. */
export function activityKubeClients(): KubeClients {
  return makeKubeClients(kubeClients().config);
}

export interface RolloutOptions {
  replicas?: number;
  revisionHistoryLimit?: number;
  /** Merged into the pod spec, such as a nodeSelector no node matches. */
  podSpec?: Record<string, unknown>;
  image?: string;
}

export interface CreatedRollout {
  ref: RolloutRef;
  rollout: Rollout;
  templateHash: string;
}

function rolloutBody(namespace: string, name: string, options: RolloutOptions) {
  return {
    apiVersion: `${ROLLOUT_GROUP}/${ROLLOUT_VERSION}`,
    kind: 'Rollout',
    metadata: { name, namespace },
    spec: {
      replicas: options.replicas ?? 2,
      revisionHistoryLimit: options.revisionHistoryLimit,
      selector: {
        matchLabels: { app: name },
        matchExpressions: [{ key: 'tier', operator: 'In', values: ['web'] }],
      },
      template: {
        metadata: { labels: { app: name, tier: 'web' }, annotations: { 'example.com/owner': 'payments' } },
        spec: {
          containers: [{ name: 'app', image: options.image ?? 'registry.example/shop:1' }],
          ...options.podSpec,
        },
      },
      strategy: {
        canary: {
          stableService: `${name}-stable`,
          canaryService: `${name}-canary`,
          trafficRouting: { gatewayAPI: { httpRoute: name } },
          steps: [{ setWeight: 20 }, { pause: {} }],
        },
      },
    },
  };
}

function describeCreated(object: unknown): CreatedRollout {
  const rollout = RolloutSchema.parse(object);
  const { namespace, name, uid } = rollout.metadata;
  if (!uid) throw new Error(`Rollout ${namespace}/${name} came back without a uid`);
  return { ref: { namespace, name, uid }, rollout, templateHash: podTemplateHash(rollout.spec.template) };
}

/** Creates a Rollout through the API, as `kubectl apply` would, and returns it with its template hash. */
export async function createRollout(
  namespace: string,
  name: string,
  options: RolloutOptions = {},
): Promise<CreatedRollout> {
  const { custom } = kubeClients();
  const created = await custom.createNamespacedCustomObject({
    group: ROLLOUT_GROUP,
    version: ROLLOUT_VERSION,
    plural: ROLLOUT_PLURAL,
    namespace,
    body: rolloutBody(namespace, name, options),
  });
  return describeCreated(created);
}

/** Changes the Rollout's image, making a new revision; returns the Rollout with the new template hash. */
export async function changeRolloutImage(ref: RolloutRef, image: string): Promise<CreatedRollout> {
  await runOrThrow('kubectl', [
    'patch',
    'rollouts.siirto.dev',
    ref.name,
    '-n',
    ref.namespace,
    '--type=json',
    '-p',
    JSON.stringify([{ op: 'replace', path: '/spec/template/spec/containers/0/image', value: image }]),
  ]);
  return readRolloutFixture(ref);
}

export async function readRolloutFixture(ref: RolloutRef): Promise<CreatedRollout> {
  const { custom } = kubeClients();
  return describeCreated(
    await custom.getNamespacedCustomObject({
      group: ROLLOUT_GROUP,
      version: ROLLOUT_VERSION,
      plural: ROLLOUT_PLURAL,
      namespace: ref.namespace,
      name: ref.name,
    }),
  );
}

/** Runs an activity with a Temporal activity context (heartbeats, cancellation), as the worker would. */
export interface ActivityRun<T> {
  environment: MockActivityEnvironment;
  heartbeats: unknown[];
  result: Promise<T>;
}

export function runActivity<T>(
  activity: () => Promise<T>,
  info: ConstructorParameters<typeof MockActivityEnvironment>[0] = {},
): ActivityRun<T> {
  // Failures are what several tests expect; the SDK's warning for each would only bury real output.
  const environment = new MockActivityEnvironment(info, { logger: new DefaultLogger('ERROR') });
  const heartbeats: unknown[] = [];
  environment.on('heartbeat', (details: unknown) => heartbeats.push(details));
  return { environment, heartbeats, result: environment.run(activity) };
}

/** The failure an activity ended with, for assertions on its type and message. */
export async function failureOf(
  promise: Promise<unknown>,
): Promise<Error & { type?: string; nonRetryable?: boolean }> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof Error) return error;
    throw new Error(`the activity threw a non-Error: ${String(error)}`, { cause: error });
  }
  throw new Error('the activity succeeded but was expected to fail');
}
