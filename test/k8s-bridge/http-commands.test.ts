import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { run, runOrThrow } from '../harness/commands';
import { isolate } from '../harness/isolation';
import { blueGreenRolloutManifest, blueGreenServicesAndRoute } from '../harness/blue-green-fixtures';
import { kubectlApply, routeHost, setImage } from '../harness/rollout-fixtures';
import { rolloutScenario } from '../harness/rollout-scenario';
import { stack } from '../harness/stack';
import { historyOf, recordHistoryFixture } from '../harness/temporal';
import { waitFor } from '../harness/wait';
import { canI } from '../deploy/can-i';
import { kustomizeIntoNamespace } from '../deploy/kustomize-into-namespace';
import { serviceAccountKubeconfig } from '../deploy/service-account-kubeconfig';
import { splitSettledAt, startTraffic } from '../traffic/traffic';
import { shellBlocks } from '../docs/doc-blocks';
import { bridgeProbes } from './bridge-probes';

const app = 'checkout';
const CLIENT = 'release-pipeline';
const SECRET = 'siirto-command-tokens';
const DOC = 'docs/http-commands.md';

/**
 * The shell blocks of docs/http-commands.md, by the entry their run-by line names (CONTRIBUTING.md,
 * "Commands in the docs"): each runs here, as written, where the rollout is in the state its text
 * speaks of, and what it did is checked.
 */
const DOC_ENTRIES = {
  'create-tokens': { when: 'the endpoint is off, its Secret missing' },
  'read-token': { when: 'before every curl, as a client holds its token' },
  'without-token': { when: 'r2 waits at its pause: nothing changes' },
  'promote-for-alice': { when: 'r2 waits at its pause until promoted; sent twice' },
  'set-weight-30': { when: 'r2 is at its external step' },
  'abort-with-reason': { when: 'r2 waits at the pause after its external step' },
  retry: { when: 'r2 is Degraded after the abort' },
  'promote-full': { when: 'r2 waits at its first pause again after the retry' },
  'rotate-token': { when: 'r2 is stable: the old token is refused from then on' },
} as const;
type DocEntry = keyof typeof DOC_ENTRIES;

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

interface AcceptedUpdate {
  updateId: string;
  name: string;
  input: Record<string, unknown>;
}

/**
 * The bridge's HTTP command endpoint, driven with real requests: the bridge runs as the service account
 * deploy/ gives it, reads its client tokens from a Secret through the apiserver, and hands each command
 * to the rollout's workflow as an Update. Every shell command of docs/http-commands.md runs here as
 * written.
 */
describe('commands over HTTP to the bridge', () => {
  const scope = isolate('http-commands');
  const { namespace } = scope;
  // ClusterRoles are cluster-wide: a suffix of this run's own keeps them apart from siirto-system's.
  const nameSuffix = `-${randomBytes(3).toString('hex')}`;
  const kubeconfigDirectory = mkdtempSync(path.join(tmpdir(), 'siirto-http-commands-'));
  const bridgeEnvironment: NodeJS.ProcessEnv = {
    SIIRTO_COMMANDS_TOKEN_SECRET: `${namespace}/${SECRET}`,
    SIIRTO_COMMANDS_PORT: '0',
  };
  let rbac = '';

  // Before the scenario's own hooks, which start the bridge with this environment.
  beforeAll(async () => {
    rbac = await kustomizeIntoNamespace('deploy/base/rbac', { namespace, nameSuffix });
    await kubectlApply(rbac);
    const account = `siirto-bridge${nameSuffix}`;
    await waitFor('the bridge account to be allowed to watch Rollouts and its token Secret', async () => {
      const answers = await Promise.all([
        canI(namespace, account, 'watch', 'rollouts.siirto.dev'),
        canI(namespace, account, 'get', `secrets/${SECRET}`),
      ]);
      return answers.every((answer) => answer === 'yes');
    });
    bridgeEnvironment.KUBECONFIG = await serviceAccountKubeconfig(namespace, account, kubeconfigDirectory);
  });

  const scenario = rolloutScenario(scope, app, { bridgeEnvironment });

  afterAll(async () => {
    if (rbac) await run('kubectl', ['delete', '--ignore-not-found', '--wait=false', '-f', '-'], rbac);
    rmSync(kubeconfigDirectory, { recursive: true, force: true });
  });

  const blocks = shellBlocks(DOC);
  const ran = new Set<DocEntry>();
  let url = '';

  const endpoint = (name = app) => `${url}/v1/namespaces/${namespace}/rollouts/${name}/commands`;

  /** Runs the documentation's blocks one after the other, as a reader pastes them into one shell. */
  async function runDocumented(...entries: DocEntry[]): Promise<string> {
    const script = entries
      .map((entry) => {
        const block = blocks.find((candidate) => candidate.runBy?.id === entry);
        if (!block) throw new Error(`no sh block of ${DOC} names ${entry}`);
        ran.add(entry);
        return block.text;
      })
      .join('\n');
    const result = await run('bash', ['-eo', 'pipefail', '-c', script], undefined, {
      SIIRTO_NAMESPACE: namespace,
      NAMESPACE: namespace,
      SIIRTO_URL: url,
    });
    if (result.code !== 0) throw new Error(`${script} exited ${result.code}: ${result.stderr}`);
    return result.stdout;
  }

  /** A documented curl, the token read first as the documentation reads it: its JSON answer. */
  async function curlDocumented(entry: DocEntry): Promise<Record<string, unknown>> {
    return JSON.parse(await runDocumented('read-token', entry)) as Record<string, unknown>;
  }

  async function token(): Promise<string> {
    const encoded = await runOrThrow('kubectl', [
      'get',
      'secret',
      SECRET,
      '-n',
      namespace,
      '-o',
      `jsonpath={.data.${CLIENT}}`,
    ]);
    return Buffer.from(encoded, 'base64').toString('utf8');
  }

  async function send(
    body: unknown,
    options: { token?: string | null; name?: string } = {},
  ): Promise<Answer> {
    const bearer = options.token === undefined ? await token() : options.token;
    const response = await fetch(endpoint(options.name), {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        ...(bearer === null ? {} : { Authorization: `Bearer ${bearer}` }),
      },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  }

  async function acceptedUpdates(workflowId: string): Promise<AcceptedUpdate[]> {
    type Accepted = {
      acceptedRequest: {
        meta: { updateId: string };
        input: { name: string; args: { payloads: { data: string }[] } };
      };
    };
    return (await historyOf(workflowId))
      .filter((event) => event.eventType === 'EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED')
      .map((event) => {
        const { meta, input } = (event.workflowExecutionUpdateAcceptedEventAttributes as Accepted)
          .acceptedRequest;
        const data = input.args.payloads[0]?.data ?? '';
        return {
          updateId: meta.updateId,
          name: input.name,
          input: JSON.parse(Buffer.from(data, 'base64').toString('utf8')) as Record<string, unknown>,
        };
      });
  }

  const weights = () => scenario.see.routeWeights(app);
  const onRoute = (stable: number, canary: number) => ({
    [`${app}-stable`]: stable,
    [`${app}-canary`]: canary,
  });
  const pausedAt = (step: number) =>
    scenario.waitForStatus(
      `r2 paused at step ${step}`,
      (status) => status.revision === 2 && status.phase === 'Paused' && status.currentStepIndex === step - 1,
    );
  let workflowId = '';

  it('is off until its Secret holds a token, and takes one added later without a restart', async () => {
    // deploy/ lets the bridge read its token Secret, by name, and no other.
    const account = `siirto-bridge${nameSuffix}`;
    expect(await canI(namespace, account, 'get', 'secrets/another-secret')).toBe('no');
    expect(await canI(namespace, account, 'list', 'secrets')).toBe('no');
    const serving = /"msg":"serving HTTP commands".*"port":(\d+)/.exec(scenario.bridge.logText());
    url = `http://127.0.0.1:${serving?.[1] ?? 'none'}`;
    expect(scenario.bridge.logText()).toContain(`Secret ${namespace}/${SECRET} does not exist`);
    const before = await send({ requestId: 'early', command: 'promote' }, { token: 'x'.repeat(32) });
    expect(before).toEqual({
      status: 503,
      body: { error: `commands are disabled: Secret ${namespace}/${SECRET} holds no client token` },
    });

    await scenario.firstRevisionHealthy([
      { setWeight: 20 },
      { pause: {} },
      { pause: { external: true } },
      { pause: {} },
    ]);
    await runDocumented('create-tokens');
    // The bridge watches the Secret: the token works as soon as it has seen it.
    const answer = await waitFor('the new token to be taken', async () => {
      const sent = await send({ requestId: 'r1-promote', command: 'promote' });
      return sent.status !== 503 && sent;
    });
    // Authenticated; r1 is stable, its run over: nothing to promote.
    expect(answer.status).toBe(409);
    expect(answer.body).toMatchObject({ accepted: false, by: CLIENT });
    // The token is never logged.
    expect(scenario.bridge.logText()).not.toContain(await token());
  });

  it('refuses requests without a token or with a wrong one (401), and they change nothing', async () => {
    await setImage(namespace, app, `registry.example/${app}:2`);
    const paused = await pausedAt(2);
    workflowId = paused.workflowId ?? '';

    const withoutToken = await curlDocumented('without-token');
    expect(withoutToken).toEqual({
      error: 'unauthenticated: no bearer token: send the header Authorization: Bearer TOKEN',
    });
    const response = await fetch(endpoint(), { method: 'POST', body: '{}' });
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe('Bearer realm="siirto"');
    expect(await send({ requestId: 'guess', command: 'abort' }, { token: 'not-the-token-at-all' })).toEqual({
      status: 401,
      body: { error: 'unauthenticated: the bearer token is not one of the command tokens' },
    });

    expect(await scenario.see.rolloutStatus(app)).toMatchObject({ phase: 'Paused', currentStepIndex: 1 });
    expect(await weights()).toEqual(onRoute(80, 20));
    expect(await acceptedUpdates(workflowId)).toEqual([]);
  });

  it('answers a malformed body with 400 naming the field, an unknown Rollout with 404, and changes nothing', async () => {
    expect(await send('{"requestId": "deploy-4711-promote", ')).toMatchObject({
      status: 400,
      body: { error: expect.stringContaining('the body is not JSON') },
    });
    expect(await send({ command: 'promote' })).toMatchObject({
      status: 400,
      body: { error: expect.stringMatching(/^requestId: is required/) },
    });
    expect(await send({ requestId: 'x1', command: 'jump' })).toEqual({
      status: 400,
      body: { error: 'command: must be one of promote, abort, retry, setWeight' },
    });
    expect(await send({ requestId: 'x2', command: 'setWeight', weight: 150 })).toEqual({
      status: 400,
      body: { error: 'weight: must be a whole number from 0 to 100' },
    });
    expect(await send({ requestId: 'x3', command: 'promote', fulll: true })).toEqual({
      status: 400,
      body: { error: 'fulll: is not a field of this command; remove it (see docs/http-commands.md)' },
    });
    expect(await send({ requestId: 'x4', command: 'abort', reason: 'x'.repeat(20_000) })).toMatchObject({
      status: 413,
    });
    const got = await fetch(endpoint(), { method: 'GET' });
    expect(got.status).toBe(405);
    expect(got.headers.get('allow')).toBe('POST');
    expect(await send({ requestId: 'x5', command: 'promote' }, { name: 'no-such-app' })).toEqual({
      status: 404,
      body: { error: `Rollout ${namespace}/no-such-app not found; check the namespace and name in the path` },
    });

    // Well formed, but this is no external step: the workflow refuses, with why.
    const refused = await send({ requestId: 'x6', command: 'setWeight', weight: 30 });
    expect(refused.status).toBe(409);
    expect(refused.body).toMatchObject({
      accepted: false,
      reason: expect.stringContaining(
        `nothing to set: ${namespace}/${app} r2 is not at a step that takes its weight from outside (pause: {external: true})`,
      ),
    });

    expect(await scenario.see.rolloutStatus(app)).toMatchObject({ phase: 'Paused', currentStepIndex: 1 });
    expect(await weights()).toEqual(onRoute(80, 20));
    expect(await acceptedUpdates(workflowId)).toEqual([]);
  });

  it('promotes once for a request sent twice with the same request ID, recording who sent it', async () => {
    const first = await curlDocumented('promote-for-alice');
    expect(first).toMatchObject({
      requestId: 'deploy-4711-promote',
      command: 'promote',
      accepted: true,
      by: `alice via ${CLIENT}`,
      workflowId,
      rollout: { phase: 'Paused', currentStepIndex: 1, weights: { stable: 80, canary: 20 } },
    });
    const external = await pausedAt(3);
    expect(external.message).toBe('step 3/4: canary at 20%, its weight set from outside until promoted');

    const again = await curlDocumented('promote-for-alice');
    expect(again).toEqual(first);
    // Only one promote reached the workflow: the external step was not promoted past.
    const promotes = (await acceptedUpdates(workflowId)).filter((update) => update.name === 'promote');
    expect(promotes).toEqual([
      {
        updateId: `http:${CLIENT}:deploy-4711-promote`,
        name: 'promote',
        input: { by: `alice via ${CLIENT}` },
      },
    ]);
    expect(await scenario.see.rolloutStatus(app)).toMatchObject({ phase: 'Paused', currentStepIndex: 2 });
    const [event] = await bridgeProbes(scenario.client, namespace).rolloutEvents(app, 'PromoteRequested');
    expect(event?.message).toBe(
      `promotion by alice via ${CLIENT} accepted by ${workflowId} (over HTTP, request deploy-4711-promote)`,
    );
  });

  it('sets the canary weight from outside during an external step: on the route and in the traffic', async () => {
    const documented = await curlDocumented('set-weight-30');
    expect(documented).toMatchObject({
      accepted: true,
      rollout: { phase: 'Paused', currentStepIndex: 2, weights: { stable: 70, canary: 30 } },
    });
    expect(await weights()).toEqual(onRoute(70, 30));

    const half = await send({
      requestId: 'experiment-88-weight-50',
      command: 'setWeight',
      weight: 50,
      by: 'experiment-88',
    });
    expect(half).toMatchObject({ status: 200, body: { rollout: { weights: { stable: 50, canary: 50 } } } });
    expect(await weights()).toEqual(onRoute(50, 50));
    const traffic = startTraffic({ host: routeHost(namespace, app) });
    try {
      await splitSettledAt(traffic, { '1': 0.5, '2': 0.5 }, { tolerance: 0.05, window: 200 });
    } finally {
      await traffic.stop();
    }
    // The CLI sends the same Update.
    const cli = (...args: string[]) =>
      run(path.join(stack.projectDir, 'cli', 'siirto'), [...args, '-n', namespace]);
    expect(await cli('set-weight', app, '101')).toMatchObject({
      code: 2,
      stderr: expect.stringContaining("set-weight needs the canary's weight as a whole number from 0 to 100"),
    });
    const byCli = await cli('set-weight', app, '40');
    expect(byCli).toMatchObject({ code: 0 });
    expect(byCli.stdout).toContain(`weight 40% set by ${workflowId} (stable 60% / canary 40%)`);
    expect(await weights()).toEqual(onRoute(60, 40));
    const cliUser = `${process.env.USER ?? 'someone'} (siirto CLI)`;
    // The status is written behind the weights: wait for it to say who set the weight last.
    await scenario.waitForStatus(
      'the status to say who set the weight',
      (status) =>
        status.message ===
        `step 3/4: canary at 40%, its weight set from outside until promoted (40% set by ${cliUser})`,
    );
    const setWeights = (await acceptedUpdates(workflowId)).filter((update) => update.name === 'setWeight');
    expect(setWeights.map((update) => update.input)).toEqual([
      { weight: 30, by: CLIENT },
      { weight: 50, by: `experiment-88 via ${CLIENT}` },
      { weight: 40, by: cliUser },
    ]);
  });

  it('ends the external step with a promote, then aborts with a reason, retries and promotes fully', async () => {
    const promoted = await send({ requestId: 'deploy-4711-promote-external', command: 'promote' });
    expect(promoted).toMatchObject({ status: 200, body: { accepted: true } });
    await pausedAt(4);
    // The weight set from outside stays until a step changes it.
    expect(await weights()).toEqual(onRoute(60, 40));
    const late = await send({ requestId: 'experiment-88-weight-60', command: 'setWeight', weight: 60 });
    expect(late).toMatchObject({ status: 409, body: { accepted: false } });

    const aborted = await curlDocumented('abort-with-reason');
    expect(aborted).toMatchObject({ accepted: true, command: 'abort' });
    const degraded = await scenario.waitForStatus('r2 Degraded', (status) => status.phase === 'Degraded');
    expect(degraded.message).toContain(`aborted by ${CLIENT}: error budget burnt`);
    expect(await weights()).toEqual(onRoute(100, 0));

    const retried = await curlDocumented('retry');
    expect(retried).toMatchObject({ accepted: true, command: 'retry' });
    await pausedAt(2);

    const full = await curlDocumented('promote-full');
    expect(full).toMatchObject({ accepted: true, command: 'promote' });
    const healthy = await scenario.waitForStatus(
      'r2 Healthy',
      (status) => status.revision === 2 && status.phase === 'Healthy',
    );
    expect(healthy.message).toContain(`promoted by ${CLIENT}`);
    const handle = scenario.client.workflow.getHandle(workflowId);
    await handle.result();
    await recordHistoryFixture('canary-weights-set-over-http', handle);
  });

  it('takes a rotated token at once and refuses the old one', async () => {
    const old = await token();
    await runDocumented('rotate-token');
    const rotated = await token();
    expect(rotated).not.toBe(old);
    await waitFor('the old token to be refused', async () => {
      const answer = await send({ requestId: 'after-rotation', command: 'promote' }, { token: old });
      return answer.status === 401;
    });
    // The new one is taken: r2 is stable, so the rollout itself refuses.
    const answer = await send({ requestId: 'after-rotation', command: 'promote' }, { token: rotated });
    expect(answer).toMatchObject({ status: 409, body: { accepted: false, by: CLIENT } });
  });

  it('refuses a weight for a blue-green rollout, which takes none from outside', async () => {
    const blue = 'cart';
    await kubectlApply(blueGreenServicesAndRoute(namespace, blue));
    await kubectlApply(
      blueGreenRolloutManifest({ namespace, app: blue, blueGreen: { autoPromotionEnabled: false } }),
    );
    const waitingFor = (revision: number, phase: string) =>
      waitFor(`${blue} r${revision} ${phase}`, async () => {
        const status = await scenario.see.rolloutStatus(blue);
        return status.revision === revision && status.phase === phase && status;
      });
    await waitingFor(1, 'Healthy');
    await setImage(namespace, blue, `registry.example/${blue}:2`);
    await waitingFor(2, 'Paused');
    const refused = await send(
      { requestId: 'cart-weight', command: 'setWeight', weight: 30 },
      { name: blue },
    );
    expect(refused).toMatchObject({
      status: 409,
      body: {
        accepted: false,
        reason: 'this rollout takes no weight from outside: only a canary step pause: {external: true} does',
      },
    });
  });

  it('runs every shell command of docs/http-commands.md, each named by its run-by line', () => {
    expect(blocks.map((block) => block.runBy)).toEqual(
      blocks.map(() => ({ file: 'test/k8s-bridge/http-commands.test.ts', id: expect.any(String) })),
    );
    expect(blocks.map((block) => block.runBy?.id).sort()).toEqual(Object.keys(DOC_ENTRIES).sort());
    expect([...ran].sort()).toEqual(Object.keys(DOC_ENTRIES).sort());
  });
});
