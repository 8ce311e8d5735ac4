import type { Client } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import type { CanaryRolloutInput } from '../../workflows/rollout-api';
import { kubeClients } from '../harness/kube';
import type { SiirtoProcess } from '../harness/siirto-processes';
import { historyOf } from '../harness/temporal';

interface SignaledAttributes {
  signalName: string;
  input?: { payloads: { data?: string }[] };
}

/** What the tests of the bridge look at: runs in Temporal, Events in Kubernetes, the bridge's own log. */
export function bridgeProbes(client: Client, namespace: string) {
  const { core } = kubeClients();

  /** Every run Temporal lists for a Rollout by its search attributes, open or closed. */
  async function runsOf(name: string) {
    const runs: { workflowId: string; runId: string; status: string }[] = [];
    const query = `RolloutNamespace = '${namespace}' AND RolloutName = '${name}'`;
    for await (const info of client.workflow.list({ query })) {
      runs.push({ workflowId: info.workflowId, runId: info.runId, status: info.status.name });
    }
    return runs;
  }

  /** How many runs the visibility count reports for a Rollout. */
  async function countRuns(name: string): Promise<number> {
    const query = `RolloutNamespace = '${namespace}' AND RolloutName = '${name}'`;
    return (await client.workflow.count(query)).count;
  }

  /** The input a run was started with, as recorded in its first history event. */
  async function startInput(workflowId: string): Promise<CanaryRolloutInput> {
    const history = await client.workflow.getHandle(workflowId).fetchHistory();
    const payload = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
    if (!payload) throw new Error(`${workflowId} has no input in its history`);
    return defaultPayloadConverter.fromPayload(payload);
  }

  /** The arguments of the `supersede` signals in a run's history, as `temporal workflow show` prints it. */
  async function supersedeSignals(workflowId: string): Promise<unknown[]> {
    const events = await historyOf(workflowId);
    return events
      .filter((event) => event.eventType === 'EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED')
      .map((event) => event.workflowExecutionSignaledEventAttributes as SignaledAttributes)
      .filter((signal) => signal.signalName === 'supersede')
      .map((signal) => {
        const data = signal.input?.payloads[0]?.data;
        return data === undefined ? undefined : JSON.parse(Buffer.from(data, 'base64').toString('utf8'));
      });
  }

  async function cancelRequested(workflowId: string): Promise<boolean> {
    const events = await historyOf(workflowId);
    return events.some((event) => event.eventType === 'EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED');
  }

  /** Events on a Rollout with a reason, as `kubectl events --for rollout/<name>` lists them. */
  async function rolloutEvents(name: string, reason: string) {
    const list = await core.listNamespacedEvent({
      namespace,
      fieldSelector: `involvedObject.kind=Rollout,involvedObject.name=${name},reason=${reason}`,
    });
    return list.items.map((event) => ({
      type: event.type,
      message: event.message ?? '',
      count: event.count ?? 1,
    }));
  }

  return { runsOf, countRuns, startInput, supersedeSignals, cancelRequested, rolloutEvents };
}

/**
 * How many times a bridge has looked at a Rollout since `from` (an offset into its log): its
 * reconciles, and the resyncs that found it settled and left it alone. Waiting for a few proves
 * resyncs happened, so an assertion that something did NOT happen is not premature.
 */
/** The bridge's log lines for a reconcile, and for a resync that left a settled Rollout alone. */
const LOOKED_AT = new Set(['reconciled', 'settled; the resync leaves it']);

export function reconcilesLogged(bridge: SiirtoProcess, namespace: string, name: string, from = 0): number {
  return bridge
    .logText()
    .slice(from)
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as { msg?: string; namespace?: string; name?: string })
    .filter((entry) => LOOKED_AT.has(entry.msg ?? '') && entry.namespace === namespace && entry.name === name)
    .length;
}
