import { randomBytes } from 'node:crypto';
import { kubeClients } from './kube';
import { terminateRunningWorkflows } from './temporal';

export interface TestScope {
  /** A Kubernetes namespace of this test file's own, created before its tests and deleted after. */
  namespace: string;
  /** Prefix for the file's workflow IDs and task queues, so parallel files never meet. */
  workflowIdPrefix: string;
}

/** Gives a test file its own namespace and workflow-ID prefix; call it at the top of a describe block. */
export function isolate(label: string): TestScope {
  const suffix = randomBytes(3).toString('hex');
  const scope = { namespace: `t-${label}-${suffix}`, workflowIdPrefix: `test-${label}-${suffix}` };
  const { core } = kubeClients();
  beforeAll(async () => {
    await core.createNamespace({
      body: { metadata: { name: scope.namespace, labels: { 'siirto.dev/test': label } } },
    });
  });
  afterAll(async () => {
    // Rollout workflows are named after the namespace (`<namespace>/<name>/r<revision>`, their
    // analyses below that) and carry it as RolloutNamespace; everything else uses the prefix.
    await terminateRunningWorkflows(
      [
        `WorkflowId STARTS_WITH "${scope.workflowIdPrefix}"`,
        `WorkflowId STARTS_WITH "${scope.namespace}/"`,
        `RolloutNamespace = "${scope.namespace}"`,
      ].join(' OR '),
      `test file cleanup (${label})`,
    );
    await core.deleteNamespace({ name: scope.namespace, propagationPolicy: 'Background' });
  });
  return scope;
}
