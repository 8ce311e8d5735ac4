/**
 * Writes the workflow bundle into dist/ (after `tsc -p tsconfig.build.json`), from the compiled
 * workflows: the code an installed worker runs is the code the package ships, and the worker skips
 * webpack at start. Run by `npm run build`.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { WORKFLOW_BUNDLE_NAME } from '../worker/workflow-code';

async function main(): Promise<void> {
  const dist = path.join(__dirname, '..', 'dist');
  const { code } = await bundleWorkflowCode({ workflowsPath: require.resolve(path.join(dist, 'workflows')) });
  const file = path.join(dist, WORKFLOW_BUNDLE_NAME);
  writeFileSync(file, code);
  console.log(
    `workflow bundle written to ${path.relative(process.cwd(), file)} (${Math.round(code.length / 1024)} KiB)`,
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
