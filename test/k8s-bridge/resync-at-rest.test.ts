import { STATUS_CHANGE_DELAY_MS } from '../../k8s-bridge/reconcile-queue';
import { isolate } from '../harness/isolation';
import { observer } from '../harness/observe';
import { kubectlApply, rolloutManifestWith } from '../harness/rollout-fixtures';
import { siirtoBridge, siirtoWorker, type SiirtoProcess } from '../harness/siirto-processes';
import { waitFor } from '../harness/wait';
import { fetchText, metricsPortOf, sampleValue } from '../observability/scrape';
import { reconcilesLogged } from './bridge-probes';

/** Resync passes watched at rest, each SIIRTO_RESYNC_SECONDS (2 s in tests) apart. */
const PASSES = 3;

/**
 * At rest, the bridge's requests must not grow with the number of Rollouts: a Rollout whose status
 * records the outcome of its generation is left alone by the resync (no read of it from the apiserver,
 * none of its runs from Temporal's visibility), while an Invalid one is still looked at every pass, so
 * it heals when what it lacks appears. Observed through the bridge's own metrics (its reconciles, each
 * a read of the Rollout and of its runs) and its log.
 */
describe('the resync at rest', () => {
  const scope = isolate('resync-at-rest');
  const { namespace } = scope;
  const see = observer(namespace);
  let worker: SiirtoProcess;
  let bridge: SiirtoProcess;

  /** A basic canary (no traffic routing) of one pod, Healthy as soon as its first revision is up. */
  const apply = (name: string, canary: Record<string, unknown> = {}) =>
    kubectlApply(
      rolloutManifestWith(
        { namespace, app: name, replicas: 1 },
        { canary: { scaleDownDelaySeconds: 0, steps: [{ setWeight: 50 }, { pause: {} }], ...canary } },
      ),
    );
  const healthy = (names: string[]) =>
    waitFor(
      `${names.length} Rollouts Healthy`,
      async () => {
        const statuses = await Promise.all(names.map((name) => see.rolloutStatus(name)));
        return statuses.every((status) => status.phase === 'Healthy' && status.revision === 1);
      },
      { timeoutMs: 120_000 },
    );
  const metric = async (name: string, labels: Record<string, string> = {}) =>
    sampleValue((await fetchText(metricsPortOf(bridge), '/metrics')).body, name, labels) ?? 0;
  const reconciles = async () =>
    (await metric('siirto_reconcile_total', { outcome: 'done' })) +
    (await metric('siirto_reconcile_total', { outcome: 'requeue' }));

  /** How many of the bridge's log lines since `from` say `msg` of the Rollout `name`. */
  const logged = (msg: string, name: string, from: number) =>
    bridge
      .logText()
      .slice(from)
      .split('\n')
      .filter((line) => line.includes(`"msg":"${msg}"`) && line.includes(`"name":"${name}"`)).length;

  /** What the bridge does over PASSES resyncs that find `settled` Rollouts settled. */
  async function atRest(settled: string[]) {
    // Healthy is written before the run's last status writes, which the watch and a resync still
    // reconcile: the window opens once a resync has found each of them settled.
    const opened = bridge.logText().length;
    await waitFor(
      `a resync finding ${settled.length} Rollouts settled`,
      () => settled.every((name) => logged('settled; the resync leaves it', name, opened) > 0),
      { timeoutMs: 30_000 },
    );
    // A status written just before is reconciled that much later (reconcile-queue.ts); that is not rest.
    await new Promise((resolve) => setTimeout(resolve, STATUS_CHANGE_DELAY_MS));
    const from = bridge.logText().length;
    const settledBefore = await metric('siirto_resync_rollouts_total', { outcome: 'settled' });
    const reconcilesBefore = await reconciles();
    await waitFor(
      `${PASSES} resyncs finding ${settled.length} Rollouts settled`,
      async () =>
        (await metric('siirto_resync_rollouts_total', { outcome: 'settled' })) - settledBefore >=
        PASSES * settled.length,
      { timeoutMs: 30_000 },
    );
    const reconciledByName = (name: string) => logged('reconciled', name, from);
    return {
      reconciles: (await reconciles()) - reconcilesBefore,
      ofSettled: settled.map(reconciledByName).reduce((a, b) => a + b, 0),
      ofInvalid: reconciledByName('invalid'),
      lookedAtSettled: reconcilesLogged(bridge, namespace, settled[0]!, from),
    };
  }

  beforeAll(async () => {
    worker = siirtoWorker(scope);
    bridge = siirtoBridge(scope, 'bridge', { SIIRTO_LOG_LEVEL: 'debug' });
    await Promise.all([worker.start(), bridge.start()]);
  });
  afterAll(async () => {
    await Promise.all([worker?.stop(), bridge?.stop()]);
  });

  it('reconciles only the Rollouts that need it: one a pass, with 12 settled Rollouts as with 3', async () => {
    // One Rollout names a Service that does not exist: Invalid, and re-checked every pass.
    await apply('invalid', { stableService: 'missing-stable', canaryService: 'missing-canary' });
    await waitFor('the Rollout naming a missing Service to be Invalid', async () => {
      return (await see.rolloutStatus('invalid')).phase === 'Invalid';
    });

    const few = ['app-0', 'app-1', 'app-2'];
    await Promise.all(few.map((name) => apply(name)));
    await healthy(few);
    const withFew = await atRest(few);

    const many = Array.from({ length: 12 }, (_, index) => `app-${index}`);
    await Promise.all(many.slice(few.length).map((name) => apply(name)));
    await healthy(many);
    const withMany = await atRest(many);

    for (const rest of [withFew, withMany]) {
      // Settled Rollouts cost no reconcile, though each resync went over them (the log says so).
      expect(rest.ofSettled).toBe(0);
      expect(rest.lookedAtSettled).toBeGreaterThanOrEqual(PASSES);
      // The Invalid one is reconciled by every pass, and it is all the bridge reconciles at rest: one a
      // pass (the window may take in the end of a pass before the first).
      expect(rest.ofInvalid).toBeGreaterThanOrEqual(PASSES - 1);
      expect(rest.reconciles).toBeGreaterThanOrEqual(PASSES - 1);
      expect(rest.reconciles).toBeLessThanOrEqual(PASSES + 1);
    }
  });
});
