import * as k8s from '@kubernetes/client-node';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ROLLOUT_GROUP, ROLLOUT_PLURAL } from '../../schemas/rollout';
import { runOrThrow } from './commands';
import { kubeClients } from './kube';
import { waitFor } from './wait';

/** The part of an AdmissionReview's request a hold is decided on. */
interface AdmissionRequest {
  uid: string;
  resource: { resource: string };
  subResource?: string;
  object?: { status?: Record<string, unknown> };
}

/**
 * A user's validating admission webhook on loopback, as a policy engine in a cluster is: the
 * apiserver asks it about every write of a Rollout's status in one namespace, and it can keep one
 * write waiting before it allows it, as a slow webhook does, while a test does something to Siirto.
 */
export async function startAdmissionWebhook(namespace: string) {
  const { certificate, key } = await servingCertificate();
  let pending: { matches: (status: Record<string, unknown>) => boolean; held: () => void } | undefined;
  let release: () => void = () => undefined;
  let probes = 0;
  const server: Server = createServer({ cert: certificate, key }, (request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      const review = JSON.parse(body) as { request: AdmissionRequest };
      const answer = () =>
        response.writeHead(200, { 'content-type': 'application/json' }).end(
          JSON.stringify({
            apiVersion: 'admission.k8s.io/v1',
            kind: 'AdmissionReview',
            response: { uid: review.request.uid, allowed: true },
          }),
        );
      const { resource, subResource, object } = review.request;
      if (resource.resource === 'configmaps') probes += 1;
      const status = object?.status ?? {};
      if (
        pending &&
        resource.resource === ROLLOUT_PLURAL &&
        subResource === 'status' &&
        pending.matches(status)
      ) {
        const { held } = pending;
        pending = undefined;
        release = answer;
        held();
        return;
      }
      answer();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  const name = `hold-status-writes-${namespace}`;
  const admission = kubeClients().config.makeApiClient(k8s.AdmissionregistrationV1Api);
  await admission.createValidatingWebhookConfiguration({
    body: {
      metadata: { name },
      webhooks: [
        {
          name: 'status-writes.test.siirto.dev',
          clientConfig: { url: `https://127.0.0.1:${port}/`, caBundle: certificate.toString('base64') },
          rules: [
            {
              apiGroups: [ROLLOUT_GROUP],
              apiVersions: ['*'],
              operations: ['UPDATE'],
              resources: [`${ROLLOUT_PLURAL}/status`],
            },
            // Probes that the apiserver has begun to call the webhook (below).
            { apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['configmaps'] },
          ],
          namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': namespace } },
          sideEffects: 'None',
          admissionReviewVersions: ['v1'],
          // Should a test leave a write held, the apiserver lets it through after this long.
          failurePolicy: 'Ignore',
          timeoutSeconds: 30,
        },
      ],
    },
  });
  // The apiserver takes up a new webhook configuration a moment after it is stored.
  const { core } = kubeClients();
  await waitFor(
    'the apiserver to call the admission webhook',
    async () => {
      await core.createNamespacedConfigMap({
        namespace,
        body: { metadata: { generateName: 'admission-probe-' } },
      });
      return probes > 0;
    },
    { intervalMs: 500 },
  );

  return {
    /**
     * Keeps the next status write whose new status `matches` waiting in the apiserver; resolves once
     * the apiserver is holding it. `release` lets it through.
     */
    hold(matches: (status: Record<string, unknown>) => boolean): Promise<void> {
      return new Promise((held) => (pending = { matches, held }));
    },
    release(): void {
      release();
      release = () => undefined;
    },
    async close(): Promise<void> {
      this.release();
      await admission.deleteValidatingWebhookConfiguration({ name });
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A self-signed serving certificate for 127.0.0.1, made with the stack's openssl. */
async function servingCertificate(): Promise<{ certificate: Buffer; key: Buffer }> {
  const directory = await mkdtemp(path.join(tmpdir(), 'siirto-admission-'));
  try {
    const [certificateFile, keyFile] = [path.join(directory, 'tls.crt'), path.join(directory, 'tls.key')];
    await runOrThrow('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      keyFile,
      '-out',
      certificateFile,
    ]);
    return { certificate: await readFile(certificateFile), key: await readFile(keyFile) };
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}
