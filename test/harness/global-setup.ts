import { execFileSync } from 'node:child_process';
import { loadStackEnvironment } from './stack';

// Reuses a running local stack or starts one (installing what is missing), then hands its addresses
// to every test file through the environment.
export default function globalSetup(): void {
  execFileSync('bash', ['stack/up.sh'], { stdio: 'inherit' });
  loadStackEnvironment();
}
