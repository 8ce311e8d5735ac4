import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { setTimeout as delay } from 'node:timers/promises';
import type { AnalysisActivities } from '../../activities/analysis-activities';
import type { BlueGreenActivities } from '../../activities/blue-green-activities';
import type { CDEventsActivities } from '../../activities/cdevents-emission';
import type { ReplicaSetSummary, RolloutActivities } from '../../activities/rollout-activities';
import type { RolloutCDEventKind } from '../../cdevents/rollout-event';
import type { ResolvedMetric } from '../../analysis/resolved-metric';
import { FailureType } from '../../reasons/rollout-reasons';
import type { MeasurementVerdict } from '../../schemas/analysis';
import type { RolloutPhase, RolloutStatus, TrafficWeights } from '../../schemas/rollout';
import type { RolloutRef } from '../../workflows/rollout-api';

/**
 * Every activity a rollout workflow calls on the cluster, its analyses and its CDEvents sink, with the
 * real activities' own types: a change to what a workflow may ask of them fails the type check here.
 */
export type ClusterActivities = RolloutActivities &
  BlueGreenActivities &
  AnalysisActivities &
  CDEventsActivities;

/** How soon pods asked for are Ready, unless their ReplicaSet is capped: quick, but never synchronous. */
const POD_READY_AFTER_MS = 20;
/** How often a waiting activity heartbeats, so a cancellation reaches it within a fraction of a second. */
const HEARTBEAT_EVERY_MS = 100;
/** How often the fake measures again, per metric; short, so an analysis holds within a second. */
const MEASUREMENT_INTERVAL_MS = 150;

export interface FakeReplicaSet {
  revision: number;
  replicas: number;
  available: number;
}

/** One Rollout's objects, as a cluster would hold them. */
export class FakeApp {
  readonly replicaSets = new Map<string, FakeReplicaSet>();
  /** The weights last written to the route; absent until the first write. */
  routeWeights: TrafficWeights | undefined;
  /** Each Service's pod-template-hash selector. */
  readonly selectors = new Map<string, string>();
  /** The Rollout's status, merged as the status subresource merges it. */
  status: Partial<RolloutStatus> = {};
  /** Every phase written to the status, in order. */
  readonly phases: RolloutPhase[] = [];
  readonly events: { type: string; reason: string; message: string }[] = [];
  readonly announcements: RolloutCDEventKind[] = [];
  /** Every change to weights, ReplicaSet sizes and selectors, in the order the cluster applied them. */
  readonly changes: string[] = [];
  /** Most pods of a ReplicaSet (by template hash) that become Ready: a quota, or pods that crash. */
  readonly readyCaps = new Map<string, number>();
  /** What every measurement of a metric (by its template's name) finds; Successful unless set. */
  readonly verdicts = new Map<string, MeasurementVerdict>();
  /** Measurements taken, by metric. */
  readonly measured = new Map<string, number>();
  /** How long a write of the Rollout's status takes: an apiserver under load. */
  statusWriteDelayMs = 0;
  /** How long a write of the route's weights takes. */
  routeWriteDelayMs = 0;

  constructor(readonly key: string) {}

  available(hash: string): number {
    return this.replicaSets.get(hash)?.available ?? 0;
  }

  replicas(hash: string): number | undefined {
    return this.replicaSets.get(hash)?.replicas;
  }
}

/**
 * An in-memory cluster behind the rollout activities: ReplicaSets whose pods become Ready shortly after
 * they are asked for (up to a cap a test may set), route weights, Service selectors, the Rollout's
 * status and Events, and analyses whose measurements find what a test says. Like the real activities,
 * its writes are idempotent, its waits heartbeat and end when cancelled, and it refuses with the real
 * failure types where the real ones would.
 */
export class FakeCluster {
  private readonly apps = new Map<string, FakeApp>();
  private readonly listeners = new Set<() => void>();

  app(rollout: Pick<RolloutRef, 'namespace' | 'name'>): FakeApp {
    const key = `${rollout.namespace}/${rollout.name}`;
    let app = this.apps.get(key);
    if (!app) {
      app = new FakeApp(key);
      this.apps.set(key, app);
    }
    return app;
  }

  /** A revision serving all traffic already, as its rollout left it. */
  seedStable(
    rollout: RolloutRef,
    hash: string,
    replicas: number,
    services: string[],
    routed: boolean,
  ): FakeApp {
    const app = this.app(rollout);
    app.replicaSets.set(hash, { revision: 1, replicas, available: replicas });
    for (const service of services) app.selectors.set(service, hash);
    if (routed) app.routeWeights = { stable: 100, canary: 0 };
    app.status = { phase: 'Healthy', revision: 1, stableTemplateHash: hash, currentTemplateHash: hash };
    return app;
  }

  /** Caps the Ready pods of a revision (a quota, crashing pods), or lifts the cap. */
  capReadyPods(rollout: RolloutRef, hash: string, cap: number | undefined): void {
    const app = this.app(rollout);
    if (cap === undefined) app.readyCaps.delete(hash);
    else app.readyCaps.set(hash, cap);
    this.settlePods(app, hash);
  }

  setVerdict(rollout: RolloutRef, metric: string, verdict: MeasurementVerdict): void {
    this.app(rollout).verdicts.set(metric, verdict);
  }

  // --- how the cluster changes ----------------------------------------------------------------------
  private changed(): void {
    for (const listener of [...this.listeners]) listener();
  }

  /** Pods lost at once on a scale-down; new ones Ready a moment after they are asked for, up to the cap. */
  private settlePods(app: FakeApp, hash: string): void {
    const replicaSet = app.replicaSets.get(hash);
    if (!replicaSet) return;
    const target = Math.min(replicaSet.replicas, app.readyCaps.get(hash) ?? Infinity);
    if (replicaSet.available > target) {
      replicaSet.available = target;
      this.changed();
    } else if (replicaSet.available < target) {
      setTimeout(() => {
        const now = Math.min(replicaSet.replicas, app.readyCaps.get(hash) ?? Infinity);
        if (now > replicaSet.available) {
          replicaSet.available = now;
          this.changed();
        }
      }, POD_READY_AFTER_MS);
    }
  }

  private scale(app: FakeApp, hash: string, replicas: number, revision: number): FakeReplicaSet {
    let replicaSet = app.replicaSets.get(hash);
    if (!replicaSet) {
      replicaSet = { revision, replicas: 0, available: 0 };
      app.replicaSets.set(hash, replicaSet);
    }
    if (replicaSet.replicas !== replicas) {
      replicaSet.replicas = replicas;
      app.changes.push(`${hash} replicas ${replicas}`);
    }
    this.settlePods(app, hash);
    this.changed();
    return replicaSet;
  }

  /**
   * Waits, heartbeating, until `done` gives a value; rejects when the activity is cancelled, and with
   * `deadline` as a progress deadline would.
   */
  private until<T>(
    done: () => T | undefined,
    deadline?: { seconds: number; failure: () => ApplicationFailure },
  ): Promise<T> {
    const context = Context.current();
    return new Promise<T>((resolve, reject) => {
      const heartbeat = setInterval(() => context.heartbeat(), HEARTBEAT_EVERY_MS);
      const timeout = deadline && setTimeout(() => end(deadline.failure()), deadline.seconds * 1000);
      const check = () => {
        const value = done();
        if (value !== undefined) end(undefined, value);
      };
      const onCancel = () => end(context.cancellationSignal.reason);
      const end = (error: unknown, value?: T) => {
        clearInterval(heartbeat);
        clearTimeout(timeout);
        this.listeners.delete(check);
        context.cancellationSignal.removeEventListener('abort', onCancel);
        if (error === undefined) resolve(value as T);
        else reject(error instanceof Error ? error : new Error(String(error)));
      };
      context.heartbeat();
      context.cancellationSignal.addEventListener('abort', onCancel);
      this.listeners.add(check);
      check();
    });
  }

  private summary(rollout: RolloutRef, hash: string): ReplicaSetSummary {
    const replicaSet = this.app(rollout).replicaSets.get(hash);
    return {
      name: `${rollout.name}-${hash}`,
      replicas: replicaSet?.replicas ?? 0,
      availableReplicas: replicaSet?.available ?? 0,
    };
  }

  // --- the activities -------------------------------------------------------------------------------
  activities(): ClusterActivities {
    return {
      ensureReplicaSet: async ({ rollout, revision, templateHash, replicas }) => {
        this.scale(this.app(rollout), templateHash, replicas, revision);
        return this.summary(rollout, templateHash);
      },

      scaleReplicaSet: async ({ rollout, templateHash, replicas }) => {
        const app = this.app(rollout);
        const existing = app.replicaSets.get(templateHash);
        if (!existing) {
          if (replicas === 0) return;
          throw ApplicationFailure.nonRetryable(
            `ReplicaSet ${rollout.name}-${templateHash} is missing`,
            FailureType.ReplicaSetMissing,
          );
        }
        this.scale(app, templateHash, replicas, existing.revision);
      },

      waitForReplicaSetAvailable: ({ rollout, templateHash, replicas, deadlineSeconds }) => {
        const app = this.app(rollout);
        return this.until(
          () => (app.available(templateHash) >= replicas ? this.summary(rollout, templateHash) : undefined),
          {
            seconds: deadlineSeconds,
            failure: () =>
              ApplicationFailure.nonRetryable(
                `${app.available(templateHash)} of ${replicas} pods of ${rollout.name}-${templateHash} available after the progress deadline of ${deadlineSeconds} s`,
                FailureType.ProgressDeadlineExceeded,
              ),
          },
        );
      },

      setTrafficWeights: async ({ rollout, weights, availableCanary }) => {
        const app = this.app(rollout);
        if (app.routeWriteDelayMs > 0) await delay(app.routeWriteDelayMs);
        if (availableCanary && app.available(availableCanary.templateHash) < availableCanary.replicas) {
          throw ApplicationFailure.nonRetryable(
            `${app.available(availableCanary.templateHash)} of ${availableCanary.replicas} canary pods available`,
            FailureType.CanaryNotAvailable,
          );
        }
        if (app.routeWeights?.stable !== weights.stable || app.routeWeights.canary !== weights.canary) {
          app.changes.push(`weights ${weights.stable}/${weights.canary}`);
        }
        app.routeWeights = { ...weights };
        this.changed();
      },

      applyManagedRouteStep: async ({ rollout, step }) => {
        this.app(rollout).changes.push(`managed route ${JSON.stringify(step)}`);
      },

      removeManagedRoutes: async ({ rollout }) => {
        this.app(rollout).changes.push('managed routes removed');
      },

      guardCanaryTraffic: ({ rollout, templateHash, route }) => {
        const app = this.app(rollout);
        return this.until(() => {
          const seenAt = new Date().toISOString();
          if (app.available(templateHash) === 0) {
            return {
              unreadyAt: seenAt,
              message: `${app.replicas(templateHash) ?? 0} canary pods, none Ready`,
            };
          }
          const now = app.routeWeights;
          if (route && now && (now.canary !== route.weights.canary || now.stable !== route.weights.stable)) {
            return {
              unreadyAt: seenAt,
              message: `weights changed to ${now.stable}/${now.canary}`,
              drift: {
                object: `HTTPRoute ${app.key}`,
                found: `stable=${now.stable}, canary=${now.canary}`,
              },
            };
          }
          return undefined;
        });
      },

      pointServiceAtRevision: async ({ rollout, service, templateHash, availableReplicas }) => {
        const app = this.app(rollout);
        if (availableReplicas !== undefined && app.available(templateHash) < availableReplicas) {
          throw ApplicationFailure.nonRetryable(
            `${app.available(templateHash)} of ${availableReplicas} pods of ${templateHash} available`,
            FailureType.RevisionNotAvailable,
          );
        }
        if (app.selectors.get(service) !== templateHash) app.changes.push(`${service} → ${templateHash}`);
        app.selectors.set(service, templateHash);
        this.changed();
      },

      writeRolloutStatus: async ({ rollout, revision, status }) => {
        const app = this.app(rollout);
        if (app.statusWriteDelayMs > 0) await delay(app.statusWriteDelayMs);
        // As the real write: a superseded revision's late write must not undo its successor's.
        if ((app.status.revision ?? 0) > revision) return;
        app.status = { ...app.status, ...status };
        if (status.phase && app.phases.at(-1) !== status.phase) app.phases.push(status.phase);
      },

      recordRolloutEvent: async ({ rollout, type, reason, message }) => {
        this.app(rollout).events.push({ type, reason, message });
      },

      pruneOldReplicaSets: async ({ rollout, keepTemplateHashes }) => {
        const app = this.app(rollout);
        for (const [hash, replicaSet] of app.replicaSets) {
          if (replicaSet.replicas === 0 && !keepTemplateHashes.includes(hash)) app.replicaSets.delete(hash);
        }
      },

      readRevisionReplicaSet: async ({ rollout, templateHash }) =>
        this.app(rollout).replicaSets.has(templateHash) ? this.summary(rollout, templateHash) : undefined,

      setRevisionPodMetadata: async ({ rollout, templateHash }) => {
        this.app(rollout).changes.push(`metadata on ${templateHash}`);
      },

      waitForServiceEndpoints: ({ rollout, service, templateHash, replicas, deadlineSeconds }) => {
        const app = this.app(rollout);
        return this.until(
          () =>
            app.selectors.get(service) === templateHash && app.available(templateHash) >= replicas
              ? { revision: replicas, others: 0 }
              : undefined,
          {
            seconds: deadlineSeconds,
            failure: () =>
              ApplicationFailure.nonRetryable(
                `Service ${service} not on the ${replicas} pods of ${templateHash}`,
                FailureType.ServiceEndpointsNotReady,
              ),
          },
        );
      },

      resolveAnalysis: async ({ rollout, analysis }) =>
        analysis.templates.map((template): ResolvedMetric => ({
          name: template.templateName,
          source: `fake ${rollout.namespace}/${template.templateName}`,
          // The fake's measurement reads which Rollout it is for from the query.
          query: `${rollout.namespace}/${rollout.name}`,
          intervalMilliseconds: MEASUREMENT_INTERVAL_MS,
          count: 2,
          initialDelayMilliseconds: 0,
          failureLimit: 0,
          inconclusiveLimit: 0,
          consecutiveErrorLimit: 0,
        })),

      measureMetric: async ({ metric }) => {
        const [namespace = '', name = ''] = metric.query.split('/');
        const app = this.app({ namespace, name });
        app.measured.set(metric.name, (app.measured.get(metric.name) ?? 0) + 1);
        const verdict = app.verdicts.get(metric.name) ?? 'Successful';
        return { verdict, value: verdict === 'Successful' ? '1' : undefined, message: `fake ${verdict}` };
      },

      emitCDEvent: async (event) => {
        this.app(event.rollout).announcements.push(event.kind);
        return { delivered: true, attempts: 1, id: `${event.workflowId}/${event.sequence}` };
      },
    };
  }
}
