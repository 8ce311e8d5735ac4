import { abortUpdate } from '../../workflows/rollout-api';
import { isolate } from '../harness/isolation';
import { patchRolloutSpec } from '../harness/rollout-fixtures';
import { rolloutScenario } from '../harness/rollout-scenario';
import { activityCompletions, historyOf, recordedAt } from '../harness/temporal';
import { waitFor } from '../harness/wait';
import { cdEventsValidator } from './cdevents-schemas';
import { CDEventsSink, type ReceivedEvent } from './cdevents-sink';
import { readableHistoryText } from './readable-history';

const app = 'catalog';
const TOKEN = 'sink-token-never-in-history';

interface RolloutEventData {
  context: { id: string; type: string };
  subject: { content: { environment?: { id: string }; artifactId?: string } };
  customData: { rollout: { name: string }; revision: number; weights: { canary: number }; reason?: string };
}

const data = (event: ReceivedEvent) => event.data as RolloutEventData;
const kindOf = (event: ReceivedEvent) => data(event).context.type.split('.')[3];

describe('CDEvents from real rollouts', () => {
  const scope = isolate('cdevents');
  const { namespace } = scope;
  let sink: CDEventsSink;
  const validator = cdEventsValidator();

  beforeAll(async () => {
    sink = await CDEventsSink.start();
  });
  const workerEnvironment = () => ({
    SIIRTO_CDEVENTS_SINK_URL: sink.url,
    SIIRTO_CDEVENTS_AUTH_TOKEN: TOKEN,
    SIIRTO_CDEVENTS_RETRY_FOR: '15s',
    SIIRTO_CLUSTER_ID: 'test-cluster',
  });
  const scenario = rolloutScenario(scope, app, { workerEnvironment });
  afterAll(async () => {
    await sink?.close();
  });

  /** The revision's events as the sink received them, duplicates (same id) dropped. */
  function eventsOf(revision: number): ReceivedEvent[] {
    const seen = new Set<string>();
    return sink.events.filter((event) => {
      const { context, customData } = data(event);
      if (customData.revision !== revision || seen.has(context.id)) return false;
      seen.add(context.id);
      return true;
    });
  }

  const waitForKinds = (revision: number, kinds: string[], timeoutMs = 30_000) =>
    waitFor(
      `r${revision}'s events ${kinds.join(' → ')}`,
      () => {
        const events = eventsOf(revision);
        return events.map(kindOf).join(',') === kinds.join(',') && events;
      },
      { timeoutMs },
    );

  async function newRevision(revision: number, steps: unknown[]): Promise<void> {
    await patchRolloutSpec(namespace, app, {
      template: { spec: { containers: [{ name: 'app', image: `ghcr.io/example/${app}:${revision}` }] } },
      strategy: { canary: { steps } },
    });
  }

  it('announces deployed → upgraded… → published for a successful canary, all schema-valid', async () => {
    await scenario.firstRevisionHealthy([]);
    await waitForKinds(1, ['deployed', 'published']);
    await newRevision(2, [{ setWeight: 20 }, { setWeight: 60 }]);
    const events = await waitForKinds(2, ['deployed', 'upgraded', 'upgraded', 'published']);

    for (const event of events) expect(validator.problems(event.data)).toEqual([]);
    expect(events.map((event) => data(event).customData.weights.canary)).toEqual([0, 20, 60, 0]);
    const deployed = data(events[0]!);
    expect(deployed.subject.content.environment?.id).toBe(`test-cluster/${namespace}`);
    expect(deployed.subject.content.artifactId).toBe(
      `pkg:oci/${app}?repository_url=ghcr.io%2Fexample%2F${app}&tag=2`,
    );
    expect(events[0]?.headers.authorization).toBe(`Bearer ${TOKEN}`);
    // The token is the worker's: it appears nowhere in the rollout's history.
    const history = await readableHistoryText(`${namespace}/${app}/r2`);
    expect(history).not.toContain(TOKEN);
    expect(history).toContain('CDEvent service.published');
  });

  it('announces rolledback, with the reason, when a canary is aborted', async () => {
    await newRevision(3, [{ setWeight: 30 }, { pause: {} }]);
    await scenario.waitForStatus('r3 paused', (status) => status.revision === 3 && status.phase === 'Paused');
    await scenario.client.workflow
      .getHandle(`${namespace}/${app}/r3`)
      .executeUpdate(abortUpdate, { args: [{ reason: 'checkout errors', by: 'on-call' }] });
    const events = await waitForKinds(3, ['deployed', 'upgraded', 'rolledback']);
    for (const event of events) expect(validator.problems(event.data)).toEqual([]);
    expect(data(events[2]!).customData.reason).toContain('checkout errors');
  });

  it('delivers every event of a rollout whose worker is killed midway, duplicates with the same id', async () => {
    await newRevision(4, [{ setWeight: 20 }, { pause: { duration: '3s' } }, { setWeight: 50 }]);
    await waitForKinds(4, ['deployed'], 60_000);
    // The worker dies with the first upgraded event delivered but not yet answered: the worker that
    // takes over sends it again.
    sink.holdAnswers();
    let killed = false;
    try {
      await waitForKinds(4, ['deployed', 'upgraded'], 60_000);
      await scenario.worker.kill();
      killed = true;
    } finally {
      sink.releaseAnswers();
      if (killed) await scenario.worker.start();
    }
    const events = await waitForKinds(4, ['deployed', 'upgraded', 'upgraded', 'published'], 90_000);
    for (const event of events) expect(validator.problems(event.data)).toEqual([]);
    const received = sink.events.filter((candidate) => data(candidate).customData.revision === 4);
    const firstUpgrade = data(events[1]!).context.id;
    expect(received.filter((event) => data(event).context.id === firstUpgrade).length).toBeGreaterThan(1);
    // A duplicate is the same event: same id, same content.
    for (const event of received) {
      const first = events.find((candidate) => data(candidate).context.id === data(event).context.id);
      expect(event.data).toEqual(first?.data);
    }
  });

  it("completes rollouts while the sink is down, a new one not waiting for the last one's events", async () => {
    sink.goDown();
    try {
      await newRevision(5, [{ setWeight: 50 }]);
      const healthy = await scenario.waitForStatus(
        'r5 Healthy with the sink down',
        (status) => status.revision === 5 && status.phase === 'Healthy',
        60_000,
      );
      expect(healthy.weights).toEqual({ stable: 100, canary: 0 });
      expect(eventsOf(5)).toEqual([]);
      expect(sink.requests.filter((request) => request.status === 503).length).toBeGreaterThan(0);

      // r5 goes on trying its three events for 15 s each; r6 supersedes it and need not wait for them.
      await newRevision(6, [{ setWeight: 50 }]);
      await scenario.waitForStatus(
        'r6 Healthy while r5 still tries to deliver its events',
        (status) => status.revision === 6 && status.phase === 'Healthy',
        30_000,
      );
      // By the server's clock, from r6's start to its Healthy status written: shorter than one of r5's
      // deliveries.
      const sixth = await historyOf(`${namespace}/${app}/r6`);
      const [healthyWritten] = activityCompletions(sixth, /^status Healthy: /);
      expect(healthyWritten).toBeDefined();
      expect(healthyWritten!.at - recordedAt(sixth[0]!)).toBeLessThan(15_000);
      const fifth = await scenario.client.workflow.getHandle(`${namespace}/${app}/r5`).describe();
      expect(fifth.status.name).toBe('RUNNING');
      // The first event, retried for SIIRTO_CDEVENTS_RETRY_FOR, is given up on and the loss logged.
      const lost = await waitFor(
        "the worker to log r5's deployed event as lost",
        () =>
          scenario.worker
            .logText()
            .split('\n')
            .filter((line) => line.includes('CDEvent not delivered'))
            .map((line) => JSON.parse(line) as Record<string, unknown>)
            .find(
              (entry) => entry.revision === 5 && entry.eventType === 'dev.cdevents.service.deployed.0.3.0',
            ),
        { timeoutMs: 30_000 },
      );
      expect(lost).toMatchObject({ name: app, namespace, workflowId: `${namespace}/${app}/r5` });
    } finally {
      sink.comeBack();
    }
  });
});
