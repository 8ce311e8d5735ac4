// The smallest workflow that does something: one activity, then done. bench/temporal-floor.ts times it.
import { proxyActivities } from '@temporalio/workflow';

const { touch } = proxyActivities<{ touch(): Promise<void> }>({ startToCloseTimeout: '10 seconds' });

export async function temporalFloor(): Promise<void> {
  await touch();
}
