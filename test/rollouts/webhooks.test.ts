import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { WEBHOOK_TYPES, type WebhookType } from '../../schemas/webhooks';
import { abortUpdate, promoteUpdate } from '../../workflows/rollout-api';
import { run, runOrThrow } from '../harness/commands';
import { isolate } from '../harness/isolation';
import type { RolloutStatus } from '../../schemas/rollout';
import {
  activeService,
  blueGreenRolloutManifest,
  blueGreenServicesAndRoute,
  previewService,
} from '../harness/blue-green-fixtures';
import { kubectlApply, patchRolloutSpec, sampleContainer } from '../harness/rollout-fixtures';
import { rolloutScenario } from '../harness/rollout-scenario';
import { stack } from '../harness/stack';
import { activitySummaries, historyOf, recordHistoryFixture, timerSummaries } from '../harness/temporal';
import { waitFor } from '../harness/wait';
import { downReceiverUrl, startWebhookReceiver } from '../harness/webhook-receiver';

/** The app docs/webhooks.md speaks of, so its commands run here as written. */
const app = 'checkout';
const DOC = path.join(stack.projectDir, 'docs', 'webhooks.md');

/**
 * The commands docs/webhooks.md shows, as written (its `run-by` lines name this file): each runs here
 * verbatim, as a user in the Rollout's namespace.
 */
const DOC_COMMANDS = {
  secret:
    "kubectl create secret generic checkout-webhook-headers --from-literal=Authorization='Bearer change-me'",
  status: 'siirto status checkout',
  events: 'kubectl get events --field-selector reason=WebhookWaiting',
};

/** Every command of the doc's ```sh blocks, one a line. */
function docCommands(): string[] {
  const text = readFileSync(DOC, 'utf8');
  return [...text.matchAll(/```sh\n([\s\S]*?)```/g)].flatMap((block) =>
    block[1]!.split('\n').filter((line) => line.trim() !== ''),
  );
}

describe('webhooks of a canary', () => {
  const scope = isolate('webhooks');
  const { namespace } = scope;
  const scenario = rolloutScenario(scope, app);
  let receiver: Awaited<ReturnType<typeof startWebhookReceiver>>;
  let revision = 1;
  /** A kubeconfig whose context names the test's namespace, so the doc's commands run without -n. */
  let kubeconfig: string;
  const commandsRun = new Set<string>();

  /** Runs one of the doc's commands, verbatim, as a user in the Rollout's namespace. */
  async function runDocCommand(command: string) {
    expect(docCommands()).toContain(command);
    commandsRun.add(command);
    const result = await run('bash', ['-c', command], undefined, {
      KUBECONFIG: kubeconfig,
      PATH: `${path.join(stack.projectDir, 'cli')}:${process.env.PATH ?? ''}`,
    });
    return { command, ...result };
  }

  beforeAll(async () => {
    receiver = await startWebhookReceiver();
    const dir = mkdtempSync(path.join(tmpdir(), 'siirto-webhooks-'));
    kubeconfig = path.join(dir, 'kubeconfig');
    writeFileSync(kubeconfig, readFileSync(process.env.KUBECONFIG ?? stack.kubeconfig, 'utf8'));
    await runOrThrow('kubectl', [
      '--kubeconfig',
      kubeconfig,
      'config',
      'set-context',
      '--current',
      `--namespace=${namespace}`,
    ]);
    // An event webhook from the start: a first revision calls nothing else.
    await scenario.firstRevisionHealthy([{ setWeight: 50 }], {});
  });

  afterAll(async () => {
    await receiver?.close();
  });

  /** A new revision with these steps and webhooks, as one `kubectl patch` of the Rollout. */
  async function rollOut(steps: unknown[], webhooks: unknown[]) {
    revision++;
    await patchRolloutSpec(namespace, app, {
      template: { spec: { containers: [sampleContainer(`registry.example/${app}:${revision}`)] } },
      strategy: { canary: { steps, webhooks } },
    });
    const status = await scenario.waitForStatus(
      `r${revision} to start`,
      (s) => s.revision === revision && s.workflowId !== undefined && s.currentTemplateHash !== undefined,
    );
    return { checksum: status.currentTemplateHash!, workflowId: status.workflowId! };
  }

  const hook = (type: WebhookType, extra: Record<string, unknown> = {}) => ({
    name: type,
    type,
    url: receiver.url(`/${type}`),
    interval: '1s',
    timeout: '2s',
    ...extra,
  });

  /** Every string in a history, with base64 payloads decoded: where a secret would show. */
  function historyText(events: unknown): string {
    const strings: string[] = [];
    const walk = (value: unknown) => {
      if (typeof value === 'string') {
        strings.push(value, Buffer.from(value, 'base64').toString('utf8'));
      } else if (value && typeof value === 'object') {
        Object.values(value).forEach(walk);
      }
    };
    walk(events);
    return strings.join('\n');
  }

  it("calls every kind at its moment, in order, with the Secret's headers that the history never holds", async () => {
    const secret = await runDocCommand(DOC_COMMANDS.secret);
    expect(secret.code).toBe(0);
    // The rollback webhook says "no rollback" (404) throughout.
    receiver.answer('/rollback', 404);
    const kinds = WEBHOOK_TYPES;
    const webhooks = kinds.map((type) =>
      hook(type, {
        metadata: { team: 'payments' },
        ...(type === 'confirm-promotion'
          ? { headersFrom: { secretRef: { name: 'checkout-webhook-headers' } } }
          : {}),
      }),
    );
    const { checksum, workflowId } = await rollOut([{ setWeight: 20 }, { setWeight: 50 }], webhooks);
    await scenario.waitForStatus(
      `r${revision} to become Healthy`,
      (s) => s.phase === 'Healthy' && s.revision === revision,
    );
    const handle = scenario.client.workflow.getHandle(workflowId);
    await handle.result();
    const calls = receiver.callsFor(checksum);

    // The gates and checks, in the order Flagger calls them, and the rollback polls between.
    const inOrder = calls
      .map((call) => call.payload.type)
      .filter((type) => type !== 'event' && type !== 'rollback');
    expect(inOrder).toEqual([
      'confirm-rollout',
      'rollout',
      'pre-rollout',
      'confirm-traffic-increase',
      'rollout',
      'confirm-traffic-increase',
      'confirm-promotion',
      'post-rollout',
    ]);
    const at = (type: WebhookType) =>
      calls.filter((call) => call.payload.type === type).map((call) => call.at);
    const rollbackPolls = at('rollback');
    expect(rollbackPolls.length).toBeGreaterThanOrEqual(1);
    expect(Math.min(...rollbackPolls)).toBeGreaterThanOrEqual(at('confirm-rollout')[0]!);
    expect(Math.max(...rollbackPolls)).toBeLessThanOrEqual(at('post-rollout')[0]!);

    // Every phase the revision entered, from its start to Healthy, told to the event webhook.
    const events = calls.filter((call) => call.payload.type === 'event').map((call) => call.payload);
    expect(events[0]).toMatchObject({
      phase: 'Progressing',
      metadata: { eventType: 'Normal', team: 'payments' },
    });
    expect(events.at(-1)).toMatchObject({
      phase: 'Healthy',
      metadata: { eventMessage: expect.stringContaining(`r${revision} is stable`) },
    });
    expect(Number(events.at(-1)!.metadata.timestamp)).toBeGreaterThan(0);

    // Flagger's payload.
    const promotion = calls.find((call) => call.payload.type === 'confirm-promotion')!;
    expect(promotion.payload).toEqual({
      name: app,
      namespace,
      phase: 'Progressing',
      checksum,
      type: 'confirm-promotion',
      metadata: { team: 'payments' },
    });
    expect(calls.find((call) => call.payload.type === 'post-rollout')!.payload.phase).toBe('Healthy');

    // The Secret's header reached the receiver, and only the one webhook that names it.
    expect(promotion.headers.authorization).toBe('Bearer change-me');
    expect(calls.filter((call) => call.headers.authorization !== undefined)).toEqual([promotion]);
    const history = await historyOf(workflowId);
    const text = historyText(history);
    expect(text).not.toContain('change-me');
    expect(text).toContain('checkout-webhook-headers');

    // Each call is an activity named after its webhook, its answer its result.
    const summaries = await activitySummaries(workflowId);
    for (const type of kinds) expect(summaries).toContain(`webhook ${type} '${type}'`);
    expect(await timerSummaries(workflowId)).toContain(
      "rollback 'rollback' said HTTP 404: no rollback, ask again in 1s",
    );
    await recordHistoryFixture('canary-webhooks-promoted', handle);
  });

  it('holds the rollout at a confirm-promotion gate that answers 403, weights unchanged, until it answers 200', async () => {
    receiver.answer('/approve', 403);
    const { checksum, workflowId } = await rollOut(
      [{ setWeight: 30 }],
      [{ ...hook('confirm-promotion'), name: 'approve', url: receiver.url('/approve') }],
    );
    const waiting = await scenario.waitForStatus(
      'the gate to hold the rollout',
      (s) => s.revision === revision && s.phase === 'Paused',
    );
    expect(waiting.message).toBe("step 1/1 done: waiting for confirm-promotion hook 'approve' (HTTP 403)");
    // Asked again on its interval, and all the while the split stays where the step left it.
    await waitFor('the gate to be asked three times', () => receiver.callsFor(checksum).length >= 3, {
      timeoutMs: 20_000,
    });
    expect(await scenario.see.routeWeights(app)).toEqual({ [`${app}-stable`]: 70, [`${app}-canary`]: 30 });
    expect((await scenario.see.rolloutStatus(app)).phase).toBe('Paused');

    // What a user sees meanwhile, with the doc's commands.
    const status = await runDocCommand(DOC_COMMANDS.status);
    expect(status.stdout).toContain("waiting for confirm-promotion hook 'approve' (HTTP 403)");
    const events = await runDocCommand(DOC_COMMANDS.events);
    expect(events.stdout).toContain("waiting for confirm-promotion hook 'approve' (HTTP 403)");

    receiver.answer('/approve', 200);
    await scenario.waitForStatus(
      `r${revision} to become Healthy`,
      (s) => s.phase === 'Healthy' && s.revision === revision,
    );
    expect(await scenario.see.routeWeights(app)).toEqual({ [`${app}-stable`]: 100, [`${app}-canary`]: 0 });
    const answers = receiver.callsFor(checksum).map((call) => call.status);
    expect(answers.at(-1)).toBe(200);
    expect(answers.slice(0, -1).every((status) => status === 403)).toBe(true);
    const handle = scenario.client.workflow.getHandle(workflowId);
    await handle.result();
    await recordHistoryFixture('canary-webhook-gate-held-then-confirmed', handle);
  });

  it('lets a person promote past a confirm-traffic-increase gate that says no, the canary Ready but without traffic until then', async () => {
    receiver.answer('/more', 403);
    const { checksum } = await rollOut(
      [{ setWeight: 20 }],
      [{ ...hook('confirm-traffic-increase'), name: 'more', url: receiver.url('/more') }],
    );
    const waiting = await scenario.waitForStatus(
      'the gate to hold the weight',
      (s) => s.revision === revision && s.phase === 'Paused',
    );
    expect(waiting.message).toBe("step 1/1: waiting for confirm-traffic-increase hook 'more' (HTTP 403)");
    expect(await scenario.see.readyPods(checksum)).toBe(1);
    expect(await scenario.see.routeWeights(app)).toEqual({ [`${app}-stable`]: 100, [`${app}-canary`]: 0 });
    const handle = scenario.client.workflow.getHandle(waiting.workflowId!);
    await handle.executeUpdate(promoteUpdate, { args: [{ by: 'on-call' }] });
    await scenario.waitForStatus(
      `r${revision} to become Healthy`,
      (s) => s.phase === 'Healthy' && s.revision === revision,
    );
    const events = await runOrThrow('kubectl', [
      'get',
      'events',
      '-n',
      namespace,
      '--field-selector',
      'reason=WebhookConfirmed',
      '-o',
      'jsonpath={.items[*].message}',
    ]);
    expect(events).toContain(`r${revision}: step 1/1: promoted past confirm-traffic-increase hook 'more'`);
    expect(receiver.callsFor(checksum).every((call) => call.status === 403)).toBe(true);
  });

  it('aborts when a rollback webhook answers 2xx, and traffic goes back to stable', async () => {
    receiver.answer('/stop', 404);
    const { checksum, workflowId } = await rollOut(
      [{ setWeight: 40 }, { pause: {} }],
      [
        { ...hook('rollback'), name: 'stop', url: receiver.url('/stop') },
        { ...hook('post-rollout'), name: 'notify', url: receiver.url('/notify') },
      ],
    );
    await scenario.waitForStatus('the pause at 40%', (s) => s.revision === revision && s.phase === 'Paused');
    expect(await scenario.see.routeWeights(app)).toEqual({ [`${app}-stable`]: 60, [`${app}-canary`]: 40 });
    receiver.answer('/stop', 200);
    const degraded = await scenario.waitForStatus(
      'the rollback',
      (s) => s.revision === revision && s.phase === 'Degraded',
    );
    expect(degraded.message).toBe("rollback hook 'stop' answered HTTP 200");
    expect(await scenario.see.routeWeights(app)).toEqual({ [`${app}-stable`]: 100, [`${app}-canary`]: 0 });
    // post-rollout follows the abort too; the workflow waits for a retry, not Failed.
    await waitFor('the post-rollout call', () =>
      receiver
        .callsFor(checksum)
        .find((call) => call.path === '/notify' && call.payload.phase === 'Degraded'),
    );
    const handle = scenario.client.workflow.getHandle(workflowId);
    expect((await handle.describe()).status.name).toBe('RUNNING');
    await recordHistoryFixture('canary-webhook-rollback-aborted', handle);
  });

  it('neither crashes nor promotes when the receiver is down, and an abort still ends the wait', async () => {
    const down = await downReceiverUrl('/gate');
    const { checksum, workflowId } = await rollOut(
      [{ setWeight: 50 }],
      [{ ...hook('confirm-rollout'), name: 'gate', url: down }],
    );
    const waiting = await scenario.waitForStatus(
      'the gate to hold the rollout',
      (s) => s.revision === revision && s.phase === 'Paused',
    );
    expect(waiting.message).toBe("step 1/1: waiting for confirm-rollout hook 'gate' (connection refused)");
    // Asked again and again, and still no canary pod and no traffic to it.
    await waitFor(
      'three asks',
      async () =>
        (await timerSummaries(workflowId)).filter((summary) => summary.startsWith("confirm-rollout 'gate'"))
          .length >= 3,
      { timeoutMs: 20_000 },
    );
    expect(await scenario.see.routeWeights(app)).toEqual({ [`${app}-stable`]: 100, [`${app}-canary`]: 0 });
    expect(await scenario.see.readyPods(checksum)).toBe(0);
    expect(scenario.worker.running()).toBe(true);

    const handle = scenario.client.workflow.getHandle(workflowId);
    await handle.executeUpdate(abortUpdate, { args: [{ reason: 'gate is down', by: 'on-call' }] });
    const degraded = await scenario.waitForStatus(
      'the abort',
      (s) => s.revision === revision && s.phase === 'Degraded',
    );
    expect(degraded.message).toContain('aborted by on-call: gate is down');
    expect((await handle.describe()).status.name).toBe('RUNNING');
  });

  it('aborts to stable when a rollout webhook that is down fails more often than its failureLimit', async () => {
    const down = await downReceiverUrl('/smoke');
    const { workflowId } = await rollOut(
      [{ setWeight: 20 }, { setWeight: 60 }],
      [{ ...hook('rollout'), name: 'smoke', url: down, failureLimit: 1 }],
    );
    const degraded = await scenario.waitForStatus(
      'the webhook to abort the rollout',
      (s) => s.revision === revision && s.phase === 'Degraded',
    );
    expect(degraded.message).toBe("rollout hook 'smoke' failed 2 times (failureLimit 1): connection refused");
    expect(await scenario.see.routeWeights(app)).toEqual({ [`${app}-stable`]: 100, [`${app}-canary`]: 0 });
    expect((await scenario.client.workflow.getHandle(workflowId).describe()).status.name).toBe('RUNNING');
    expect(scenario.worker.running()).toBe(true);
    expect(await timerSummaries(workflowId)).toContain(
      "rollout 'smoke' said connection refused: failure 1 of 1 tolerated, again in 1s",
    );
    await recordHistoryFixture('canary-webhook-check-failed', scenario.client.workflow.getHandle(workflowId));
  });

  it('gate a blue-green switch: the active Service stays on the old revision until confirm-promotion says yes', async () => {
    const bg = 'storefront';
    await kubectlApply(blueGreenServicesAndRoute(namespace, bg));
    await kubectlApply(blueGreenRolloutManifest({ namespace, app: bg }));
    const bgStatus = (accept: (s: RolloutStatus) => boolean, description: string) =>
      waitFor(
        description,
        async () => {
          const status = await scenario.see.rolloutStatus(bg);
          return accept(status) && status;
        },
        { timeoutMs: 60_000 },
      );
    const first = await bgStatus(
      (s) => s.phase === 'Healthy' && s.revision === 1,
      'the first blue-green revision',
    );
    receiver.answer('/bg/approve', 403);
    const types: WebhookType[] = [
      'confirm-rollout',
      'pre-rollout',
      'rollout',
      'confirm-promotion',
      'post-rollout',
    ];
    await patchRolloutSpec(namespace, bg, {
      template: { spec: { containers: [sampleContainer(`registry.example/${bg}:2`)] } },
      strategy: {
        blueGreen: {
          webhooks: types.map((type) => ({
            ...hook(type),
            url: receiver.url(type === 'confirm-promotion' ? '/bg/approve' : `/bg/${type}`),
          })),
        },
      },
    });
    const waiting = await bgStatus(
      (s) => s.revision === 2 && s.phase === 'Paused',
      'the switch to wait for confirm-promotion',
    );
    expect(waiting.message).toBe(
      "step 2/2: waiting for confirm-promotion hook 'confirm-promotion' (HTTP 403)",
    );
    await waitFor(
      'the gate to be asked again',
      () =>
        receiver.callsFor(waiting.currentTemplateHash).filter((call) => call.path === '/bg/approve').length >=
        2,
      { timeoutMs: 20_000 },
    );
    // The preview is up, the active Service and the route still on the old revision.
    expect((await scenario.see.rolloutStatus(bg)).blueGreen?.activeSelector).toBe(first.currentTemplateHash);
    expect(await scenario.see.routeWeights(bg)).toEqual({
      [activeService(bg)]: 100,
      [previewService(bg)]: 0,
    });

    receiver.answer('/bg/approve', 200);
    const healthy = await bgStatus((s) => s.revision === 2 && s.phase === 'Healthy', 'the switch');
    expect(healthy.blueGreen?.activeSelector).toBe(waiting.currentTemplateHash);
    await waitFor('the post-rollout call', () =>
      receiver.callsFor(waiting.currentTemplateHash).some((call) => call.payload.type === 'post-rollout'),
    );
    const order = receiver.callsFor(waiting.currentTemplateHash).map((call) => call.payload.type);
    const firstOf = (type: WebhookType) => order.indexOf(type);
    expect(types.map(firstOf)).toEqual([...types.map(firstOf)].sort((a, b) => a - b));
    expect(types.every((type) => firstOf(type) >= 0)).toBe(true);
    const handle = scenario.client.workflow.getHandle(healthy.workflowId!);
    await handle.result();
    await recordHistoryFixture('blue-green-webhooks-promoted', handle);
  });

  it('runs every command of docs/webhooks.md', () => {
    expect([...commandsRun].sort()).toEqual([...docCommands()].sort());
  });
});
