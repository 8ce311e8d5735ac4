import { existsSync } from 'node:fs';
import path from 'node:path';

/** The file `npm run build` writes the workflow bundle to, at the top of dist/. */
export const WORKFLOW_BUNDLE_NAME = 'workflow-bundle.js';

/** Where the worker takes its workflow code from, as Worker.create's options, and a word for its log. */
export type WorkflowCode =
  | { workflowBundle: { codePath: string }; source: 'prebuilt bundle' }
  | { workflowsPath: string; source: 'bundled at start' };

/**
 * The prebuilt bundle beside the compiled worker when there is one (dist/workflow-bundle.js for
 * dist/worker/), so an installed Siirto starts without running webpack; otherwise the workflows are
 * bundled as the worker starts, as in development, where the worker runs from source and no bundle
 * lies beside it.
 */
export function workflowCode(): WorkflowCode {
  const codePath = path.join(__dirname, '..', WORKFLOW_BUNDLE_NAME);
  if (existsSync(codePath)) return { workflowBundle: { codePath }, source: 'prebuilt bundle' };
  return { workflowsPath: require.resolve('../workflows'), source: 'bundled at start' };
}
