import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { run, runOrThrow } from '../harness/commands';
import { isolate } from '../harness/isolation';
import { itWithTctl, stack } from '../harness/stack';
import { waitFor } from '../harness/wait';
import { collectGreetings } from './workflows/greetings';

describe('the local Temporal dev server', () => {
  const scope = isolate('temporal');
  const taskQueue = scope.workflowIdPrefix;
  let connection: Connection;
  let client: Client;
  let worker: Worker;
  let workerConnection: NativeConnection;
  let workerRun: Promise<void>;

  beforeAll(async () => {
    connection = await Connection.connect({ address: stack.temporalAddress });
    client = new Client({ connection });
    workerConnection = await NativeConnection.connect({ address: stack.temporalAddress });
    worker = await Worker.create({
      connection: workerConnection,
      taskQueue,
      workflowsPath: require.resolve('./workflows/greetings'),
    });
    workerRun = worker.run();
  });

  afterAll(async () => {
    worker.shutdown();
    await workerRun;
    await workerConnection.close();
    await connection.close();
  });

  it('runs a workflow and serves its history', async () => {
    const handle = await client.workflow.start(collectGreetings, {
      taskQueue,
      workflowId: `${scope.workflowIdPrefix}-history`,
      args: [1],
    });
    await handle.signal('greet', 'hello');
    expect(await handle.result()).toEqual(['hello']);

    const shown = await runOrThrow('temporal', [
      'workflow',
      'show',
      '--workflow-id',
      handle.workflowId,
      '-o',
      'json',
    ]);
    const eventTypes = (JSON.parse(shown).events as { eventType: string }[]).map((event) => event.eventType);
    expect(eventTypes[0]).toBe('EVENT_TYPE_WORKFLOW_EXECUTION_STARTED');
    expect(eventTypes).toContain('EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED');
    expect(eventTypes.at(-1)).toBe('EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED');
  });

  it('has the rollout search attributes registered', async () => {
    const listed = await runOrThrow('temporal', ['operator', 'search-attribute', 'list', '-o', 'json']);
    for (const name of [
      'RolloutNamespace',
      'RolloutName',
      'RolloutRevision',
      'RolloutPhase',
      'SiirtoCluster',
    ]) {
      expect(listed).toContain(name);
    }
  });

  it('delivers a signal sent with `temporal workflow signal`', async () => {
    const handle = await client.workflow.start(collectGreetings, {
      taskQueue,
      workflowId: `${scope.workflowIdPrefix}-temporal-cli`,
      args: [1],
    });
    await runOrThrow('temporal', [
      'workflow',
      'signal',
      '--workflow-id',
      handle.workflowId,
      '--name',
      'greet',
      '--input',
      '"from temporal"',
    ]);
    expect(await handle.result()).toEqual(['from temporal']);
  });

  itWithTctl('delivers a signal sent with legacy `tctl workflow signal`', async () => {
    const handle = await client.workflow.start(collectGreetings, {
      taskQueue,
      workflowId: `${scope.workflowIdPrefix}-tctl`,
      args: [1],
    });
    await runOrThrow('tctl', [
      '--address',
      stack.temporalAddress,
      '--namespace',
      'default',
      'workflow',
      'signal',
      '-w',
      handle.workflowId,
      '-n',
      'greet',
      '-i',
      '"from tctl"',
    ]);
    expect(await handle.result()).toEqual(['from tctl']);
  });

  it('keeps the Web UI reachable', async () => {
    const page = await waitFor('the Web UI to answer', async () => {
      const response = await fetch(stack.temporalUiUrl);
      return response.ok && (await response.text());
    });
    expect(page).toContain('<html');
    const result = await run('temporal', ['operator', 'cluster', 'health']);
    expect(result.stdout).toContain('SERVING');
  });
});
