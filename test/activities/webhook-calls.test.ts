import { callWebhook, type WebhookCall } from '../../activities/webhooks';
import { isolate } from '../harness/isolation';
import { kubeClients } from '../harness/kube';
import { startWebhookReceiver } from '../harness/webhook-receiver';
import { activityKubeClients } from './fixtures';

describe('a webhook call', () => {
  const scope = isolate('activity-webhook');
  const { namespace } = scope;
  const kube = activityKubeClients();
  const { core } = kubeClients();
  let receiver: Awaited<ReturnType<typeof startWebhookReceiver>>;

  beforeAll(async () => {
    receiver = await startWebhookReceiver();
  });
  afterAll(async () => {
    await receiver?.close();
  });

  function call(path: string, extra: Partial<WebhookCall['webhook']> = {}): WebhookCall {
    return {
      rollout: { namespace, name: 'checkout', uid: 'uid-1' },
      webhook: {
        name: 'gate',
        type: 'confirm-promotion',
        url: receiver.url(path),
        timeoutMs: 2_000,
        ...extra,
      },
      payload: {
        name: 'checkout',
        namespace,
        phase: 'Paused',
        checksum: 'abc',
        type: 'confirm-promotion',
        metadata: {},
      },
    };
  }

  it("sends the Secret's keys as headers, read at the call, so a rotated token is used at once", async () => {
    const secret = (token: string) => ({
      metadata: { name: 'gate-headers', namespace },
      stringData: { Authorization: `Bearer ${token}`, 'X-Team': 'payments' },
    });
    await core.createNamespacedSecret({ namespace, body: secret('first') });
    expect(await callWebhook(kube, call('/secret', { headersFromSecret: 'gate-headers' }))).toMatchObject({
      ok: true,
      status: 200,
    });
    await core.replaceNamespacedSecret({ name: 'gate-headers', namespace, body: secret('second') });
    await callWebhook(kube, call('/secret', { headersFromSecret: 'gate-headers' }));
    const [first, second] = receiver.calls.filter((received) => received.path === '/secret');
    expect(first?.headers).toMatchObject({ authorization: 'Bearer first', 'x-team': 'payments' });
    expect(second?.headers.authorization).toBe('Bearer second');
    expect(second?.headers['content-type']).toBe('application/json');
  });

  it('names a missing Secret and makes no call', async () => {
    const answer = await callWebhook(kube, call('/missing', { headersFromSecret: 'nowhere' }));
    expect(answer).toMatchObject({
      ok: false,
      error: `Secret ${namespace}/nowhere (headersFrom) not found: create it, or fix its name`,
    });
    expect(receiver.calls.some((received) => received.path === '/missing')).toBe(false);
  });

  it('names a key whose value cannot be a header, never the value', async () => {
    await core.createNamespacedSecret({
      namespace,
      body: {
        metadata: { name: 'bad-headers', namespace },
        stringData: { 'X-Token': 'hunter2\nX-Admin: yes' },
      },
    });
    const answer = await callWebhook(kube, call('/bad', { headersFromSecret: 'bad-headers' }));
    expect(answer.ok).toBe(false);
    expect(answer.error).toContain('key "X-Token" is not a valid header');
    expect(JSON.stringify(answer)).not.toContain('hunter2');
  });

  it('gives up at its timeout and says so', async () => {
    receiver.answer('/slow', 200, { delayMs: 5_000 });
    const answer = await callWebhook(kube, call('/slow', { timeoutMs: 1_000 }));
    expect(answer).toMatchObject({ ok: false, error: 'timed out after 1s' });
    expect(answer.tookMs).toBeGreaterThanOrEqual(1_000);
    expect(answer.tookMs).toBeLessThan(3_000);
  });

  it('takes a redirect as a no, without following it with the headers', async () => {
    receiver.answer('/moved', 302, { location: receiver.url('/elsewhere') });
    expect(await callWebhook(kube, call('/moved'))).toMatchObject({ ok: false, status: 302 });
    expect(receiver.calls.some((received) => received.path === '/elsewhere')).toBe(false);
  });
});
