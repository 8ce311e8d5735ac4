import { execFileSync } from 'node:child_process';
import { loadStackEnvironment } from './stack';

/**
 * Reuses a running local stack or starts one (installing what is missing), installs Siirto's CRDs
 * once for every test file (re-applying a CRD restarts every watch on it), and hands the stack's
 * addresses to the test files through the environment.
 */
export default function globalSetup(): void {
  execFileSync('bash', ['stack/up.sh'], { stdio: 'inherit' });
  loadStackEnvironment();
  execFileSync('kubectl', ['apply', '--server-side', '--force-conflicts', '-f', 'deploy/crds/'], {
    stdio: 'inherit',
  });
  execFileSync(
    'kubectl',
    ['wait', '--for=condition=Established', 'crd/rollouts.siirto.dev', '--timeout=30s'],
    {
      stdio: 'inherit',
    },
  );
}
