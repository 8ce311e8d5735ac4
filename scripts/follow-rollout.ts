import { parseArgs } from 'node:util';
import { makeKubeClients } from '../kubernetes/client';
import { ROLLOUT_GROUP, ROLLOUT_PLURAL, ROLLOUT_VERSION, type RolloutStatus } from '../schemas/rollout';
import { startLoad, type ResponseCounts } from '../stack/load-generator';

/**
 * The quick start's view of a rollout: sends a steady load through the gateway to the Rollout's route
 * and prints each change of its status, then, once the gateway has had a moment to follow the route,
 * the weights Siirto set next to the share of requests each version actually answered:
 *
 *   10:02:03  Paused   2/5  80  20  2  step 2/5: paused 10s or until promoted
 *             traffic  80% → 80.8% 1.0.0   20% → 19.2% 2 (of 120 requests)
 *
 * It ends once the Rollout is Healthy on its current spec (exit 0), or after --timeout seconds (exit 1).
 *
 *   node --import tsx scripts/follow-rollout.ts --namespace shop --name checkout \
 *     --url http://127.0.0.1:18000 --host checkout.shop.example
 */

const { values } = parseArgs({
  options: {
    namespace: { type: 'string' },
    name: { type: 'string' },
    url: { type: 'string' },
    host: { type: 'string' },
    timeout: { type: 'string', default: '300' },
  },
});
const { namespace, name, url, host } = values;
if (!namespace || !name || !url || !host) {
  process.stderr.write(
    '--namespace, --name, --url (the gateway) and --host (the route hostname) are required\n',
  );
  process.exit(2);
}

const RATE_PER_SECOND = 40;
/** Answers a traffic line sums up: three seconds' worth. */
const WINDOW = 120;
/** Fewest answers a status that ends sooner is summed up with: two seconds' worth. */
const MINIMUM_WINDOW = 80;
/** Time the gateway is given to follow a route change before its answers are counted. */
const SETTLE_MS = 1_500;

interface Rollout {
  metadata: { generation?: number };
  spec: { template: { spec: { containers: { image: string }[] } } };
  status?: RolloutStatus;
}

const { custom } = makeKubeClients();
const load = startLoad({ url: `${url}/`, host, ratePerSecond: RATE_PER_SECOND });
const time = () => new Date().toTimeString().slice(0, 8);

function statusLine(status: RolloutStatus): string {
  const { phase = '-', step = '-', weights, revision = '-', message = '' } = status;
  return [
    phase.padEnd(11),
    step.padEnd(5),
    `${weights?.stable ?? '-'}`.padEnd(4),
    `${weights?.canary ?? '-'}`.padEnd(4),
    `${revision}`.padEnd(3),
    message,
  ].join(' ');
}

/** `80% → 80.8% 1.0.0   20% → 19.2% 2`: each version's answered share, after the weight it should have. */
function trafficLine(
  status: RolloutStatus,
  canaryVersion: string,
  before: ResponseCounts,
  after: ResponseCounts,
): string {
  const total = after.answered - before.answered;
  const parts = Object.entries(after.byVersion)
    .map(([version, count]) => ({ version, share: (count - (before.byVersion[version] ?? 0)) / total }))
    .filter(({ share }) => share > 0)
    .sort((a, b) => b.share - a.share)
    .map(({ version, share }) => {
      // The current spec's image is the canary until it is promoted; any other version is the stable.
      const track = version === canaryVersion && status.phase !== 'Healthy' ? 'canary' : 'stable';
      return `${status.weights?.[track] ?? '?'}% → ${(share * 100).toFixed(1)}% ${version}`;
    });
  const failures = after.gatewayErrors - before.gatewayErrors + after.failed - before.failed;
  return `traffic  ${parts.join('   ')} (of ${total} requests${failures ? `, ${failures} failed` : ''})`;
}

async function read(namespace: string, name: string): Promise<Rollout> {
  return (await custom.getNamespacedCustomObject({
    group: ROLLOUT_GROUP,
    version: ROLLOUT_VERSION,
    plural: ROLLOUT_PLURAL,
    namespace,
    name,
  })) as Rollout;
}

const tag = (image: string) => image.slice(image.lastIndexOf(':') + 1);

interface Measuring {
  status: RolloutStatus;
  canaryVersion: string;
  since: number;
  from?: ResponseCounts;
  printed: boolean;
}

/** Prints the traffic since the status began, once at least `window` answers came in. */
function printTraffic(measuring: Measuring, window: number): void {
  const now = load.responses();
  if (!measuring.from || now.answered - measuring.from.answered < window) return;
  const line = trafficLine(measuring.status, measuring.canaryVersion, measuring.from, now);
  process.stdout.write(`  ${' '.repeat(8)}  ${line}\n`);
  measuring.printed = true;
}

async function main(namespace: string, name: string): Promise<number> {
  const deadline = Date.now() + Number(values.timeout) * 1_000;
  let lastLine = '';
  let measuring: Measuring | undefined;
  while (Date.now() < deadline) {
    const rollout = await read(namespace, name).catch(() => undefined);
    const status = rollout?.status ?? {};
    const line = statusLine(status);
    if (rollout && line !== lastLine) {
      // A status that did not last a whole window (a short pause on a busy machine) still shows the
      // traffic it had, once that is enough answers to mean something.
      if (measuring?.from && !measuring.printed) printTraffic(measuring, MINIMUM_WINDOW);
      process.stdout.write(`  ${time()}  ${line}\n`);
      lastLine = line;
      const canaryVersion = tag(rollout.spec.template.spec.containers[0]?.image ?? '');
      measuring = { status, canaryVersion, since: Date.now(), printed: false };
    }
    if (measuring && !measuring.printed && Date.now() - measuring.since >= SETTLE_MS) {
      measuring.from ??= load.responses();
      printTraffic(measuring, WINDOW);
    }
    const settled =
      rollout?.status?.phase === 'Healthy' &&
      rollout.metadata.generation === rollout.status.observedGeneration;
    if (settled && measuring?.printed) return 0;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  process.stderr.write(`${namespace}/${name} did not become Healthy within ${values.timeout}s\n`);
  return 1;
}

main(namespace, name).then(
  async (code) => {
    await load.stop();
    process.exit(code);
  },
  (error: Error) => {
    process.stderr.write(`${error.stack ?? error.message}\n`);
    process.exit(1);
  },
);
