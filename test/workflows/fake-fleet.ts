import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { FleetActivities } from '../../activities/fleet/fleet-activities';
import type { MeasurementOutcome } from '../../analysis/resolved-metric';
import type { RolloutPhase } from '../../schemas/rollout';
import { addressText, type FollowedRollout, type RolloutAddress } from '../../workflows/fleet-api';

/**
 * Clusters of Rollouts in memory, behind the real fleet activity interface (so it cannot drift from
 * it): what each cluster's worker would do to its Rollouts. What the real activities do to a real
 * cluster is for the stack tests; this is where the fleet workflow's own rules are specified.
 */
export interface FakeRollout {
  address: RolloutAddress;
  /** The template hash in spec, and the stable one. */
  template: string;
  stable: string;
  phase: RolloutPhase;
  revision: number;
  step?: string;
  /** How the next revision ends, and after how long. */
  outcome: 'Healthy' | 'Degraded';
  takesMilliseconds: number;
  startedAt?: number;
  endedAt?: number;
  labels: Record<string, string>;
}

export class FakeFleet {
  readonly rollouts = new Map<string, FakeRollout>();
  /** What was done, in order: `apply c1/shop/a`, `abort c2/shop/a`, `rollback c1/shop/a`, `promote ...`. */
  readonly log: string[] = [];
  /** Clusters whose apiserver does not answer: every call to them fails (and is retried). */
  readonly unreachable = new Set<string>();
  /** A gate analysis's measurement per cluster. */
  readonly measurements = new Map<string, MeasurementOutcome['verdict']>();

  add(
    text: string,
    options: Partial<Pick<FakeRollout, 'outcome' | 'takesMilliseconds' | 'labels'>> = {},
  ): FakeRollout {
    const [cluster = '', namespace = '', name = ''] = text.split('/');
    const rollout: FakeRollout = {
      address: { cluster, namespace, name },
      template: 'old',
      stable: 'old',
      phase: 'Healthy',
      revision: 1,
      outcome: options.outcome ?? 'Healthy',
      takesMilliseconds: options.takesMilliseconds ?? 300,
      labels: options.labels ?? {},
    };
    this.rollouts.set(text, rollout);
    return rollout;
  }

  get(text: string): FakeRollout {
    const rollout = this.rollouts.get(text);
    if (!rollout) throw new Error(`no fake Rollout ${text}`);
    return rollout;
  }

  private reach(target: RolloutAddress): FakeRollout {
    if (this.unreachable.has(target.cluster)) {
      throw new Error(`connect ECONNREFUSED: apiserver of cluster ${target.cluster}`);
    }
    const rollout = this.rollouts.get(addressText(target));
    if (!rollout)
      throw ApplicationFailure.nonRetryable(`Rollout ${addressText(target)} does not exist`, 'RolloutGone');
    return rollout;
  }

  /** Moves a Rollout's revision along as time passes: Progressing until it ends as told. */
  private advance(rollout: FakeRollout): void {
    if (rollout.phase !== 'Progressing' || rollout.startedAt === undefined) return;
    if (Date.now() - rollout.startedAt < rollout.takesMilliseconds) return;
    rollout.phase = rollout.template === 'new' ? rollout.outcome : 'Healthy';
    rollout.endedAt = Date.now();
    if (rollout.phase === 'Healthy') rollout.stable = rollout.template;
  }

  private startRevision(rollout: FakeRollout, template: string): void {
    rollout.template = template;
    rollout.phase = 'Progressing';
    rollout.revision++;
    rollout.step = '1/3';
    rollout.startedAt = Date.now();
    rollout.endedAt = undefined;
  }

  /** The activities of one cluster's worker. */
  activities(): FleetActivities {
    return {
      findFleetRollouts: async ({ cluster, namespace, selector }) =>
        [...this.rollouts.values()]
          .filter(
            (rollout) =>
              rollout.address.cluster === cluster &&
              rollout.address.namespace === namespace &&
              Object.entries(selector.matchLabels ?? {}).every(
                ([key, value]) => rollout.labels[key] === value,
              ),
          )
          .map((rollout) => rollout.address),
      applyFleetChange: async ({ target }) => {
        const rollout = this.reach(target);
        if (rollout.template === 'new')
          return { templateHash: 'new', previousTemplateHash: 'old', unchanged: false };
        this.log.push(`apply ${addressText(target)}`);
        this.startRevision(rollout, 'new');
        return { templateHash: 'new', previousTemplateHash: 'old', unchanged: false };
      },
      followFleetRollout: async ({ target, templateHash, intervalMilliseconds }) => {
        const context = Context.current();
        for (;;) {
          const rollout = this.reach(target);
          this.advance(rollout);
          const followed: FollowedRollout = {
            phase: rollout.phase,
            revision: rollout.revision,
            step: rollout.step,
            weights: { stable: 80, canary: 20 },
          };
          if (
            rollout.template === templateHash &&
            (rollout.phase === 'Healthy' || rollout.phase === 'Degraded')
          ) {
            return { ...followed, phase: rollout.phase, message: `${rollout.phase} in the fake cluster` };
          }
          context.heartbeat(followed);
          await context.sleep(intervalMilliseconds);
        }
      },
      abortFleetRollout: async ({ target, templateHash }) => {
        const rollout = this.reach(target);
        if (rollout.template !== templateHash || rollout.phase !== 'Progressing')
          return `${addressText(target)}: nothing in flight`;
        this.log.push(`abort ${addressText(target)}`);
        rollout.phase = 'Degraded';
        return `${addressText(target)}: aborted`;
      },
      promoteFleetRollout: async ({ target, templateHash }) => {
        const rollout = this.reach(target);
        if (rollout.template !== templateHash || rollout.phase !== 'Progressing') {
          return { accepted: false, message: `${addressText(target)}: nothing in flight` };
        }
        this.log.push(`promote ${addressText(target)}`);
        rollout.takesMilliseconds = 0;
        return { accepted: true, message: `${addressText(target)}: promote accepted` };
      },
      rollBackFleetRollout: async ({ target, fromTemplateHash, toTemplateHash }) => {
        const rollout = this.reach(target);
        if (rollout.template !== fromTemplateHash)
          return { restored: false, message: 'changed outside the release' };
        this.log.push(`rollback ${addressText(target)}`);
        this.startRevision(rollout, toTemplateHash);
        return { restored: true, message: `${addressText(target)}: template ${toTemplateHash} put back` };
      },
      resolveFleetAnalysis: async ({ target }) => {
        this.reach(target);
        return [
          {
            name: 'success-rate',
            source: 'AnalysisTemplate fake/success-rate',
            query: 'fake',
            intervalMilliseconds: 200,
            count: 2,
            initialDelayMilliseconds: 0,
            failureLimit: 0,
            inconclusiveLimit: 0,
            consecutiveErrorLimit: 4,
          },
        ];
      },
      measureFleetMetric: async () => {
        const cluster = Context.current().info.taskQueue.replace(/^siirto-fleet-/, '');
        const verdict = this.measurements.get(cluster) ?? 'Successful';
        return {
          verdict,
          value: verdict === 'Successful' ? '0.99' : '0.5',
          message: `success rate in ${cluster}`,
        };
      },
    };
  }
}
