import { ApplicationFailure } from '@temporalio/common';
import { FailureType } from '../../reasons/rollout-reasons';

/**
 * Runs `edit` on each routing object, by name. With `everyObject`, each one that can be edited is,
 * whatever became of the others, and the failures are told together: a failure a retry may mend is
 * retried, the rest are one message. Without it, the first failure stops the rest.
 */
export async function forEachRoutingObject(
  names: readonly string[],
  edit: (name: string) => Promise<void>,
  everyObject: boolean,
): Promise<void> {
  if (!everyObject) {
    for (const name of names) await edit(name);
    return;
  }
  const failures: unknown[] = [];
  for (const name of names) await edit(name).catch((error) => failures.push(error));
  const [first] = failures;
  if (first === undefined) return;
  const transient = failures.find((failure) => !(failure instanceof ApplicationFailure));
  if (transient !== undefined || failures.length === 1) throw transient ?? first;
  const permanent = failures as ApplicationFailure[];
  throw ApplicationFailure.nonRetryable(
    permanent.map((failure) => failure.message).join('; '),
    permanent[0]?.type ?? FailureType.TrafficRouteMisconfigured,
  );
}
