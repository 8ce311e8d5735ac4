import { setTimeout as sleep } from 'node:timers/promises';
import { endedWithoutVerdict } from '../k8s-bridge/runs-without-verdict';
import { RETRY_ANNOTATION } from '../kubernetes/labels';
import { mergePatch } from '../kubernetes/merge-patch';
import { CliError, type CliContext } from './cli-context';
import { readRollout, rolloutType, type ShownRollout } from './rollouts';

/**
 * `siirto retry` of a revision whose run ended without a verdict (terminated, failed, or forgotten by
 * Temporal): there is no run left to ask, and only the bridge starts runs. So the CLI sets the retry
 * annotation, as a kubectl user would, and waits for the bridge to take it.
 */

const BRIDGE_WAIT_MS = 30_000;
const POLL_MS = 500;

export async function retryThroughBridge(
  context: CliContext,
  rollout: ShownRollout,
  by: string,
): Promise<string> {
  const { name } = rollout.metadata;
  const workflowId = rollout.status?.workflowId ?? '';
  await context.kube.custom.patchNamespacedCustomObject(
    {
      ...rolloutType,
      namespace: context.namespace,
      name,
      body: { metadata: { annotations: { [RETRY_ANNOTATION]: by } } },
    },
    mergePatch,
  );
  const deadline = Date.now() + BRIDGE_WAIT_MS;
  for (;;) {
    const now = await readRollout(context, name);
    if (now.metadata.annotations?.[RETRY_ANNOTATION] === undefined) {
      if (!endedWithoutVerdict(now.status))
        return `retry accepted: ${workflowId} runs again from its first step`;
      throw new CliError(`retry refused: ${await lastRefusal(context, name)}`);
    }
    if (Date.now() > deadline) {
      throw new CliError(
        `no Siirto bridge took the retry within ${BRIDGE_WAIT_MS / 1_000} s; the annotation ${RETRY_ANNOTATION} stays ` +
          `on rollout ${name}, and the bridge runs ${workflowId} again once it sees it. Is the bridge running?`,
        2,
      );
    }
    await sleep(POLL_MS);
  }
}

/** The bridge's reason, from its newest RetryRejected Event on the Rollout. */
async function lastRefusal(context: CliContext, name: string): Promise<string> {
  const events = await context.kube.core.listNamespacedEvent({
    namespace: context.namespace,
    fieldSelector: `involvedObject.kind=Rollout,involvedObject.name=${name},reason=RetryRejected`,
  });
  const newest = events.items
    .map((event) => ({
      message: event.message ?? '',
      at: new Date(event.lastTimestamp ?? event.eventTime ?? 0).getTime(),
    }))
    .sort((a, b) => a.at - b.at)
    .at(-1);
  return newest?.message ?? `see \`kubectl events --for rollouts.siirto.dev/${name}\``;
}
