import { bundleWorkflowCode, type Logger } from '@temporalio/worker';
import { existsSync } from 'node:fs';
import path from 'node:path';

/** The file `npm run build` writes the workflow bundle to, at the top of dist/. */
export const WORKFLOW_BUNDLE_NAME = 'workflow-bundle.js';

/** Where the worker takes its workflow code from, as Worker.create's options, and a word for its log. */
export type WorkflowCode =
  | { workflowBundle: { codePath: string }; source: 'prebuilt bundle' }
  | { workflowBundle: { code: string }; source: 'bundled at start' };

/**
 * The prebuilt bundle beside the compiled worker when there is one (dist/workflow-bundle.js for
 * dist/worker/), so an installed Siirto starts without running webpack; otherwise the workflows are
 * bundled as the worker starts, as in development, where the worker runs from source and no bundle
 * lies beside it: once, for the rollout worker and a cluster's fleet worker alike (each bundling on
 * its own doubled a worker's start). `logger` takes webpack's report, which would otherwise go to
 * standard output as plain text among the worker's JSON lines.
 */
export async function workflowCode(logger: Logger): Promise<WorkflowCode> {
  const codePath = path.join(__dirname, '..', WORKFLOW_BUNDLE_NAME);
  if (existsSync(codePath)) return { workflowBundle: { codePath }, source: 'prebuilt bundle' };
  const { code } = await bundleWorkflowCode({ workflowsPath: require.resolve('../workflows'), logger });
  return { workflowBundle: { code }, source: 'bundled at start' };
}
