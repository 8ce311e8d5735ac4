import {
  buildCDEvent,
  CDEVENT_TYPES,
  type CDEventOrigin,
  type RolloutCDEventInput,
  type RolloutCDEventKind,
} from '../../cdevents/rollout-event';
import { cdEventsValidator } from '../cdevents/cdevents-schemas';

const validator = cdEventsValidator();
const KINDS = Object.keys(CDEVENT_TYPES) as RolloutCDEventKind[];
const DIGEST = `sha256:${'ab'.repeat(32)}`;

const origin: CDEventOrigin = {
  clusterId: 'prod-eu-1',
  temporalNamespace: 'rollouts',
  webUiUrl: 'https://temporal.example.com/',
};

function input(overrides: Partial<RolloutCDEventInput> = {}): RolloutCDEventInput {
  return {
    kind: 'upgraded',
    rollout: { namespace: 'shop', name: 'checkout' },
    revision: 4,
    workflowId: 'shop/checkout/r4',
    sequence: 2,
    stepIndex: 1,
    weights: { stable: 80, canary: 20 },
    images: [`ghcr.io/shop/checkout@${DIGEST}`, 'envoyproxy/envoy:v1.31'],
    occurredAt: '2026-11-02T10:15:30.250Z',
    ...overrides,
  };
}

describe('the CDEvent of a rollout moment', () => {
  it.each(KINDS)('%s validates against its official v0.5.1 schema', (kind) => {
    const event = buildCDEvent(
      input({ kind, reason: kind === 'rolledback' ? 'error rate 7%' : undefined }),
      origin,
    );
    expect(event.context.type).toBe(CDEVENT_TYPES[kind]);
    expect(validator.problems(event)).toEqual([]);
  });

  it('validates without a Web UI address and without images for a published event', () => {
    const event = buildCDEvent(input({ kind: 'published', images: [] }), { ...origin, webUiUrl: undefined });
    expect(validator.problems(event)).toEqual([]);
    expect(event.customData.workflow).toEqual({ id: 'shop/checkout/r4', namespace: 'rollouts' });
  });

  it('the validator does catch a wrong event, so a passing check means something', () => {
    const event = buildCDEvent(input({ kind: 'deployed' }), origin);
    const broken = {
      ...event,
      subject: { ...event.subject, content: { environment: event.subject.content.environment } },
    };
    expect(validator.problems(broken)).toEqual(["/subject/content must have required property 'artifactId'"]);
    const published = buildCDEvent(input({ kind: 'published' }), origin);
    const withArtifact = {
      ...published,
      subject: { ...published.subject, content: { ...published.subject.content, artifactId: 'pkg:oci/x' } },
    };
    expect(validator.problems(withArtifact)).toEqual([
      '/subject/content must NOT have additional properties ("artifactId")',
    ]);
  });

  it('names the service, its environment and its artifact', () => {
    const event = buildCDEvent(input({ kind: 'deployed' }), origin);
    expect(event.context).toMatchObject({
      specversion: '0.5.1',
      source: '/siirto/prod-eu-1/shop/checkout',
      timestamp: '2026-11-02T10:15:30.250Z',
    });
    expect(event.subject).toEqual({
      id: 'shop/checkout',
      content: {
        environment: { id: 'prod-eu-1/shop' },
        artifactId: `pkg:oci/checkout@${DIGEST}?repository_url=ghcr.io%2Fshop%2Fcheckout`,
      },
    });
  });

  it('keeps the artifact of a published event in customData, where its schema has room for it', () => {
    const event = buildCDEvent(input({ kind: 'published' }), origin);
    expect(event.subject.content).toEqual({ environment: { id: 'prod-eu-1/shop' } });
    expect(event.customData.artifactId).toBe(
      `pkg:oci/checkout@${DIGEST}?repository_url=ghcr.io%2Fshop%2Fcheckout`,
    );
  });

  it('carries the rollout, revision, step, weights, reason and a link to the workflow in customData', () => {
    const event = buildCDEvent(input({ kind: 'rolledback', reason: 'aborted by alice' }), origin);
    expect(event.customDataContentType).toBe('application/json');
    expect(event.customData).toEqual({
      rollout: { namespace: 'shop', name: 'checkout' },
      revision: 4,
      sequence: 2,
      step: 1,
      weights: { stable: 80, canary: 20 },
      images: [`ghcr.io/shop/checkout@${DIGEST}`, 'envoyproxy/envoy:v1.31'],
      artifactId: `pkg:oci/checkout@${DIGEST}?repository_url=ghcr.io%2Fshop%2Fcheckout`,
      reason: 'aborted by alice',
      workflow: {
        id: 'shop/checkout/r4',
        namespace: 'rollouts',
        url: 'https://temporal.example.com/namespaces/rollouts/workflows/shop%2Fcheckout%2Fr4',
      },
    });
  });

  it('is the same event, id and time included, when built again from the same input', () => {
    expect(buildCDEvent(input(), origin)).toEqual(buildCDEvent(input(), origin));
    expect(buildCDEvent(input(), origin).context.id).toBe('shop/checkout/r4/2-upgraded');
    expect(buildCDEvent(input({ runId: 'r-1' }), origin).context.id).toBe('shop/checkout/r4/r-1/2-upgraded');
  });

  it('has a distinct id for each sequence number and kind of a workflow, and for each workflow', () => {
    const ids = [
      ...KINDS.map((kind) => input({ kind })),
      input({ sequence: 3 }),
      input({ sequence: 12 }),
      input({ workflowId: 'shop/checkout/r5' }),
      // A Rollout deleted and created again reuses its workflow IDs, never its runs.
      input({ runId: '0195f3a2-7c1e-7d4b-9a8e-1f2d3c4b5a69' }),
      input({ runId: '0195f3a2-91aa-7e20-8c4d-6b5a49382716' }),
    ].map((each) => buildCDEvent(each, origin).context.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).not.toBe('');
  });

  it('writes the time of the decision in the one ISO form', () => {
    const event = buildCDEvent(input({ occurredAt: '2026-11-02T12:15:30+02:00' }), origin);
    expect(event.context.timestamp).toBe('2026-11-02T10:15:30.000Z');
  });

  it('percent-encodes the source so it stays a URI reference', () => {
    const event = buildCDEvent(input({ rollout: { namespace: 'shop', name: 'check out' } }), origin);
    expect(event.context.source).toBe('/siirto/prod-eu-1/shop/check%20out');
    expect(validator.problems(event)).toEqual([]);
  });

  it.each([
    [{ occurredAt: 'yesterday' }, 'occurredAt must be an ISO 8601 time'],
    [{ workflowId: '' }, 'workflowId must be a non-empty string'],
    [{ sequence: -1 }, 'sequence must be a whole number'],
    [{ images: [] }, 'images must name at least one image'],
    [{ images: ['bad image'] }, 'image "bad image" is not a valid image reference'],
    [
      { kind: 'finished' as RolloutCDEventKind },
      'kind must be one of deployed, upgraded, published, rolledback',
    ],
  ])('refuses %j, naming the field', (overrides, message) => {
    expect(() => buildCDEvent(input(overrides), origin)).toThrow(message);
  });
});
