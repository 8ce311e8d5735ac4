import { loadYaml } from '@kubernetes/client-node';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseRollout } from '../../k8s-bridge/rollout-validation';
import { WebhookSchema, WebhooksSchema } from '../../schemas/webhooks';
import { describeAnswer, webhookPayload } from '../../workflows/rollout-core/webhook-payload';

const DOC = path.join(__dirname, '..', '..', 'docs', 'webhooks.md');

/** The problems the bridge reports for a Rollout with this strategy. */
function problemsOf(strategy: Record<string, unknown>): string[] {
  return parseRollout({
    apiVersion: 'siirto.dev/v1alpha1',
    kind: 'Rollout',
    metadata: { name: 'checkout', namespace: 'shop' },
    spec: {
      selector: { matchLabels: { app: 'checkout' } },
      template: { metadata: { labels: { app: 'checkout' } }, spec: { containers: [] } },
      strategy,
    },
  }).problems;
}

/** The problems the bridge reports for a Rollout whose canary has these webhooks. */
function problemsWith(webhooks: unknown[]): string[] {
  return problemsOf({ canary: { steps: [{ setWeight: 20 }], webhooks } });
}

const gate = { name: 'approve', type: 'confirm-promotion', url: 'https://approvals.example/checkout' };

describe('the webhooks of a Rollout', () => {
  it('fill the defaults a user leaves out', () => {
    expect(WebhookSchema.parse(gate)).toEqual({ ...gate, timeout: '10s', interval: '15s', failureLimit: 0 });
  });

  it('take http and https URLs only, without credentials, and say so naming the field', () => {
    expect(problemsWith([{ ...gate, url: 'ftp://files.example/x' }])).toEqual([
      'spec.strategy.canary.webhooks[0].url: ftp: URLs cannot be called: write an http:// or https:// URL',
    ]);
    expect(problemsWith([{ ...gate, url: 'approvals' }])).toEqual([
      'spec.strategy.canary.webhooks[0].url: "approvals" is not a URL: write one such as http://gate.shop.svc:8080/approve',
    ]);
    expect(problemsWith([{ ...gate, url: 'https://me:hunter2@approvals.example/' }])).toEqual([
      'spec.strategy.canary.webhooks[0].url: credentials in the URL would land in the workflow history: put them in headersFrom instead',
    ]);
    expect(problemsWith([{ ...gate, url: 'http://127.0.0.1:8080/gate' }])).toEqual([]);
  });

  it('need names of their own', () => {
    expect(problemsWith([gate, { ...gate, type: 'rollback' }])).toEqual([
      'spec.strategy.canary.webhooks[1].name: webhook name "approve" is used twice: give each webhook a name of its own',
    ]);
  });

  it('bound the timeout and the interval, read as every other duration', () => {
    expect(problemsWith([{ ...gate, timeout: '10m' }])).toEqual([
      'spec.strategy.canary.webhooks[0].timeout: "10m" is not a duration between 1s and 5m: write one such as 10s',
    ]);
    expect(problemsWith([{ ...gate, timeout: '500ms' }])).toHaveLength(1);
    expect(problemsWith([{ ...gate, interval: 'often' }])).toEqual([
      'spec.strategy.canary.webhooks[0].interval: "often" is not a duration between 1s and 1h: write one such as 15s',
    ]);
    expect(problemsWith([{ ...gate, timeout: '1m30s', interval: '1h' }])).toEqual([]);
  });

  it('name the kinds there are when the type is not one', () => {
    const [problem] = problemsWith([{ ...gate, type: 'pre-promotion' }]);
    expect(problem).toBe(
      'spec.strategy.canary.webhooks[0].type: write one of confirm-rollout, pre-rollout, confirm-traffic-increase, rollout, confirm-promotion, post-rollout, rollback, event',
    );
  });

  it('of a blue-green Rollout have no traffic increase to confirm', () => {
    const problems = problemsOf({
      blueGreen: {
        activeService: 'checkout-active',
        webhooks: [gate, { ...gate, name: 'more', type: 'confirm-traffic-increase' }],
      },
    });
    expect(problems).toEqual([
      'spec.strategy.blueGreen.webhooks[1].type: a blue-green switch moves all traffic at once, so confirm-traffic-increase is never called: use confirm-promotion',
    ]);
  });

  it('hold a Secret by name only', () => {
    const parsed = WebhooksSchema.parse([{ ...gate, headersFrom: { secretRef: { name: 'gate-token' } } }]);
    expect(parsed[0]?.headersFrom).toEqual({ secretRef: { name: 'gate-token' } });
  });

  it('as docs/webhooks.md writes them, make a valid Rollout', () => {
    const [yaml] = [...readFileSync(DOC, 'utf8').matchAll(/```yaml\n([\s\S]*?)```/g)].map(
      (match) => match[1],
    );
    expect(parseRollout(loadYaml(yaml!)).problems).toEqual([]);
  });
});

describe('the payload a webhook receives', () => {
  const rollout = { namespace: 'shop', name: 'checkout' };

  it("is Flagger's: name, namespace, phase, checksum, type and the webhook's metadata", () => {
    expect(
      webhookPayload(rollout, '5d8c7b9f6', 'Paused', {
        type: 'confirm-promotion',
        metadata: { ticket: 'CHG-1' },
      }),
    ).toEqual({
      name: 'checkout',
      namespace: 'shop',
      phase: 'Paused',
      checksum: '5d8c7b9f6',
      type: 'confirm-promotion',
      metadata: { ticket: 'CHG-1' },
    });
  });

  it("of an event webhook says what happened in Flagger's metadata keys, beside the webhook's own", () => {
    const payload = webhookPayload(
      rollout,
      'abc',
      'Degraded',
      { type: 'event', metadata: { channel: '#deploys' } },
      { message: 'r2: aborted', eventType: 'Warning', timestamp: '2026-12-06T12:00:00.000Z' },
    );
    expect(payload.metadata).toEqual({
      channel: '#deploys',
      eventMessage: 'r2: aborted',
      eventType: 'Warning',
      timestamp: String(Date.parse('2026-12-06T12:00:00.000Z')),
    });
  });

  it('answers are named by their HTTP status, or by why there was none', () => {
    expect(describeAnswer({ ok: false, status: 403, tookMs: 3 })).toBe('HTTP 403');
    expect(describeAnswer({ ok: false, error: 'connection refused', tookMs: 1 })).toBe('connection refused');
  });
});
