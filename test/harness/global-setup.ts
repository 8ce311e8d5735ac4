import { execFileSync } from 'node:child_process';
import { loadStackEnvironment } from './stack';

const MINUTE_MS = 60_000;

/**
 * Runs one step of the setup with a time limit of its own, so a stuck step fails the run with its name
 * instead of holding it until CI gives up. The scripts bound each of their waits themselves; these
 * limits are the backstop.
 */
function step(description: string, command: string, args: string[], timeoutMs: number): void {
  try {
    execFileSync(command, args, { stdio: 'inherit', timeout: timeoutMs });
  } catch (error) {
    const timedOut = (error as NodeJS.ErrnoException).code === 'ETIMEDOUT';
    const reason = timedOut
      ? `did not finish within ${timeoutMs / MINUTE_MS} min and was stopped`
      : `failed (${error instanceof Error ? error.message : String(error)}); its own message is above`;
    throw new Error(`${description}: \`${command} ${args.join(' ')}\` ${reason}`, { cause: error });
  }
}

/**
 * Reuses a running local stack or starts one (installing what is missing), installs Siirto's CRDs
 * once for every test file (re-applying a CRD restarts every watch on it), and hands the stack's
 * addresses to the test files through the environment.
 */
export default function globalSetup(): void {
  // Installing apart from starting: a cold build legitimately takes about 20 minutes on two cores,
  // while starting a built stack never should take more than a few.
  step('installing the local stack', 'bash', ['stack/install.sh', '--quiet'], 60 * MINUTE_MS);
  step('starting the local stack', 'bash', ['stack/up.sh'], 15 * MINUTE_MS);
  loadStackEnvironment();
  step(
    "installing Siirto's CRDs",
    'kubectl',
    ['apply', '--request-timeout=30s', '--server-side', '--force-conflicts', '-f', 'deploy/crds/'],
    MINUTE_MS,
  );
  // Asked again for 30 s: a CRD just created has no conditions yet, which `kubectl wait` takes for an
  // error rather than for "not yet"; the last try prints kubectl's own message.
  const established =
    'kubectl wait --request-timeout=10s --for=condition=Established crd/rollouts.siirto.dev --timeout=1s';
  step(
    "waiting for Siirto's CRDs",
    'bash',
    ['-c', `for _ in $(seq 30); do ${established} >/dev/null 2>&1 && exit 0; sleep 1; done; ${established}`],
    MINUTE_MS,
  );
  // kubectl caches the resource names it discovered for hours: refreshed, `kubectl get sro` finds a
  // short name the CRDs just changed.
  step(
    "refreshing kubectl's view of Siirto's resources",
    'kubectl',
    ['api-resources', '--api-group=siirto.dev'],
    MINUTE_MS,
  );
  // A cluster migrating from Argo Rollouts has its CRDs, of the same names, beside Siirto's; with this
  // switch the whole run shows Siirto, its harness and its CLI working so.
  if (process.env.SIIRTO_STACK_ARGO_ROLLOUTS_CRDS === '1') {
    step(
      "installing Argo Rollouts' CRDs beside Siirto's",
      'bash',
      ['stack/argo-rollouts-crds.sh', 'install'],
      5 * MINUTE_MS,
    );
  }
}
