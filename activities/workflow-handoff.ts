import { Context } from '@temporalio/activity';
import type { Client } from '@temporalio/client';

export interface WorkflowHandoffActivities {
  /**
   * Waits until another workflow has closed, however it closed: a new revision must not touch the
   * cluster while the revision it supersedes is still handing traffic back to stable.
   */
  waitForWorkflowToClose(input: { workflowId: string }): Promise<void>;
}

export function createWorkflowHandoffActivities(client: Client): WorkflowHandoffActivities {
  return {
    async waitForWorkflowToClose({ workflowId }) {
      const context = Context.current();
      const heartbeat = setInterval(() => context.heartbeat(`waiting for ${workflowId}`), 2_000);
      try {
        const handle = client.workflow.getHandle(workflowId);
        // result() long-polls the server; how the run ended (or that it never existed) does not matter here.
        await Promise.race([handle.result().catch(() => undefined), context.cancelled]);
      } finally {
        clearInterval(heartbeat);
      }
    },
  };
}
