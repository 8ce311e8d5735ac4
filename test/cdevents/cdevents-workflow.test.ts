import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { Registry } from 'prom-client';
import { createCDEventsActivities, createCDEventsMetrics } from '../../activities/cdevents-emission';
import { CDEVENT_TYPES } from '../../cdevents/rollout-event';
import { createLogger } from '../../observability/log';
import { isolate } from '../harness/isolation';
import { stack } from '../harness/stack';
import { sampleValue } from '../observability/scrape';
import { cdEventsValidator } from './cdevents-schemas';
import { readableHistoryText } from './readable-history';
import { CDEventsSink } from './cdevents-sink';
import { announceRollout, type AnnouncedMoment } from './workflows/announce-rollout';

const TOKEN = 'workflow-test-token-51e0';

describe('CDEvents from a workflow through a real Temporal worker', () => {
  const scope = isolate('cdevents');
  const taskQueue = scope.workflowIdPrefix;
  const registry = new Registry();
  let sink: CDEventsSink;
  let connection: Connection;
  let client: Client;
  let workerConnection: NativeConnection;
  let worker: Worker;
  let workerRun: Promise<void>;

  beforeAll(async () => {
    sink = await CDEventsSink.start();
    const activities = createCDEventsActivities(
      {
        sinkUrl: sink.url,
        mode: 'binary',
        headers: { authorization: `Bearer ${TOKEN}` },
        retryForMs: 10_000,
        origin: { clusterId: 'test-cluster', temporalNamespace: 'default', webUiUrl: stack.temporalUiUrl },
      },
      createCDEventsMetrics(registry),
      createLogger({ component: 'test' }, 'warn', () => undefined),
    );
    connection = await Connection.connect({ address: stack.temporalAddress });
    client = new Client({ connection });
    workerConnection = await NativeConnection.connect({ address: stack.temporalAddress });
    worker = await Worker.create({
      connection: workerConnection,
      taskQueue,
      workflowsPath: require.resolve('./workflows/announce-rollout'),
      activities,
    });
    workerRun = worker.run();
  });

  afterAll(async () => {
    worker?.shutdown();
    await workerRun;
    await workerConnection?.close();
    await connection?.close();
    await sink?.close();
  });

  it('delivers each event once, with the id the workflow computes, and keeps the token out of the history', async () => {
    const moment = (kind: AnnouncedMoment['kind'], canary: number): AnnouncedMoment => ({
      kind,
      rollout: { namespace: scope.namespace, name: 'checkout' },
      revision: 2,
      stepIndex: 0,
      weights: { stable: 100 - canary, canary },
      images: ['registry.example.com/shop/checkout:v2'],
    });
    // The first event meets a sink that is briefly down: the activity retries it, heartbeating.
    sink.refuseNext(2, 503);
    const workflowId = `${scope.workflowIdPrefix}-announce`;
    const announcements = await client.workflow.execute(announceRollout, {
      taskQueue,
      workflowId,
      args: [[moment('deployed', 0), moment('upgraded', 20), moment('published', 100)]],
    });

    expect(announcements.map(({ emission }) => [emission.delivered, emission.attempts])).toEqual([
      [true, 3],
      [true, 1],
      [true, 1],
    ]);
    for (const { emission, idInWorkflow } of announcements) expect(emission.id).toBe(idInWorkflow);

    const received = await sink.waitForEvents(3);
    expect(received.map((event) => event.cloudEvent.id)).toEqual([
      `${workflowId}/0-deployed`,
      `${workflowId}/1-upgraded`,
      `${workflowId}/2-published`,
    ]);
    const validator = cdEventsValidator();
    for (const event of received) {
      expect(validator.problems(event.data)).toEqual([]);
      expect(event.headers.authorization).toBe(`Bearer ${TOKEN}`);
      expect(event.data).toMatchObject({
        customData: {
          workflow: {
            url: `${stack.temporalUiUrl}/namespaces/default/workflows/${encodeURIComponent(workflowId)}`,
          },
        },
      });
    }
    const metrics = await registry.metrics();
    expect(sampleValue(metrics, 'siirto_cdevents_sent_total', { type: CDEVENT_TYPES.deployed })).toBe(1);
    expect(sampleValue(metrics, 'siirto_cdevents_failed_total')).toBeUndefined();

    const history = await readableHistoryText(workflowId);
    // The history is read in full: the inputs and results are there, the sink's token is not.
    expect(history).toContain('registry.example.com/shop/checkout:v2');
    expect(history).toContain(`${workflowId}/2-published`);
    expect(history).not.toContain(TOKEN);
  });
});
