import { proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { CDEventEmission, CDEventsActivities } from '../../../activities/cdevents-emission';
import { buildCDEvent, type RolloutCDEventInput } from '../../../cdevents/rollout-event';

/**
 * A stand-in for the rollout workflow's use of CDEvents: it fills in what only the workflow knows
 * (its id, the sequence, the time of the decision) and has the activity send each event.
 */

export type AnnouncedMoment = Omit<RolloutCDEventInput, 'workflowId' | 'sequence' | 'occurredAt'>;

export interface Announcement {
  emission: CDEventEmission;
  /** The id the workflow computes itself: the cdevents module runs in workflow code. */
  idInWorkflow: string;
}

const { emitCDEvent } = proxyActivities<CDEventsActivities>({
  startToCloseTimeout: '30 seconds',
  heartbeatTimeout: '10 seconds',
  retry: { maximumAttempts: 3 },
});

export async function announceRollout(moments: AnnouncedMoment[]): Promise<Announcement[]> {
  const announcements: Announcement[] = [];
  for (const [sequence, moment] of moments.entries()) {
    const input: RolloutCDEventInput = {
      ...moment,
      workflowId: workflowInfo().workflowId,
      sequence,
      occurredAt: new Date().toISOString(),
    };
    const idInWorkflow = buildCDEvent(input, { clusterId: 'any', temporalNamespace: 'default' }).context.id;
    announcements.push({ emission: await emitCDEvent(input), idInWorkflow });
  }
  return announcements;
}
