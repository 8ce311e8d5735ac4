import {
  ApplicationFailure,
  CancellationScope,
  condition,
  isCancellation,
  log,
  patched,
  sleep,
} from '@temporalio/workflow';
import type { RolloutCDEventKind } from '../../cdevents/rollout-event';
import { EventReason, FailureType } from '../../reasons/rollout-reasons';
import { formatDuration, parseDuration } from '../../schemas/duration';
import type { RolloutPhase } from '../../schemas/rollout';
import type { Webhook, WebhookType } from '../../schemas/webhooks';
import { cluster, webhookCalls } from './activity-options';
import { failureMessage } from './failures';
import type { Gates } from './gates';
import { WEBHOOKS } from './patches';
import type { RolloutLog } from './rollout-log';
import type { RolloutRun } from './rollout-run';
import {
  describeAnswer,
  webhookPayload,
  type RolloutEventNote,
  type WebhookAnswer,
  type WebhookPayload,
} from './webhook-payload';

/** Defaults of schemas/webhooks.ts, for a webhook whose input came without them. */
const DEFAULT_TIMEOUT = 10_000;
const DEFAULT_INTERVAL = 15_000;

/** What a run carries over to the next when it continues as new (continue-as-new.ts). */
export interface WebhookCarryOver {
  /** Failed calls of each pre-rollout and rollout webhook in this attempt, by name. */
  failures: [string, number][];
  preRolloutDone: boolean;
}

/**
 * A rollout's webhooks, called at the moments Flagger calls them, whatever the strategy; a strategy
 * calls in at its own moments (the canary: before its steps, before each traffic increase, before
 * each step, before the promotion; blue-green: before the preview, once its pods are Ready, before
 * each step, before the switch) and the rest (post-rollout, event) follows the rollout log.
 *
 * - Gates that wait (confirm-*) ask again every `interval` on a durable timer until they answer 2xx;
 *   meanwhile the rollout is Paused with the webhook and its answer in the message, an abort ends the
 *   wait, and a promote goes past it (as past an analysis hold).
 * - Checks (pre-rollout, rollout) count each failed call against the webhook's `failureLimit`, over
 *   the revision's attempt (a retry starts again from 0), and are retried after `interval`; one
 *   failure more than the limit aborts the rollout (traffic back to stable, Degraded), as a failed
 *   analysis does. This is Flagger's failed-checks threshold, held per webhook.
 * - rollback webhooks are asked every `interval` while the steps run; a 2xx aborts.
 * - post-rollout and event webhooks only inform: queued behind the rollout, failures logged.
 *
 * Each call is one activity whose summary names the webhook and whose result is the answer; the
 * timers of waits and retries name the answer in their summary.
 */
export class Webhooks {
  private readonly hooks: readonly Webhook[];
  /**
   * True when the Rollout has webhooks (and the run took the patch). A strategy calls in only then:
   * even an await of nothing would shift the order of the commands of runs recorded before.
   */
  readonly any: boolean;
  private readonly failures = new Map<string, number>();
  private preRolloutDone = false;
  /** A weight a confirm-traffic-increase webhook has said yes to, not asked again for a second write. */
  private confirmedWeight: number | undefined;
  /** The attempt the counts belong to: a retry after an abort counts afresh. */
  private attempt: number;
  /** True once the revision's steps have begun, so post-rollout has something to follow. */
  private started: boolean;

  constructor(
    private readonly run: RolloutRun,
    private readonly gates: Gates,
    private readonly rolloutLog: RolloutLog,
    webhooks: readonly Webhook[] | undefined,
  ) {
    // Only a Rollout with webhooks takes the patch: the runs of every other one are unchanged.
    this.hooks = webhooks && webhooks.length > 0 && patched(WEBHOOKS) ? webhooks : [];
    this.any = this.hooks.length > 0;
    this.attempt = gates.attempt;
    const carried = run.input.continued?.webhooks;
    this.started = run.input.continued !== undefined;
    if (carried) {
      for (const [name, count] of carried.failures) this.failures.set(name, count);
      this.preRolloutDone = carried.preRolloutDone;
    }
    if (this.hooks.length > 0) {
      rolloutLog.onPhase = (phase, message) => this.phaseEntered(phase, message);
      rolloutLog.onAnnounce = (kind) => this.announced(kind);
    }
  }

  carryOver(): WebhookCarryOver | undefined {
    if (this.hooks.length === 0) return undefined;
    return { failures: [...this.failures], preRolloutDone: this.preRolloutDone };
  }

  // --- the moments a strategy calls in at -------------------------------------------------------------
  /** Before the canary scales up: confirm-rollout webhooks, each until it says yes. */
  async beforeRollout(): Promise<void> {
    this.freshAttempt();
    this.started = true;
    await this.confirm('confirm-rollout');
  }

  /**
   * Before the canary's traffic goes from `from`% to `to`%: pre-rollout before its first traffic, then
   * confirm-traffic-increase before each increase.
   */
  async beforeTraffic(from: number, to: number): Promise<void> {
    if (to <= from || this.hooks.length === 0) return;
    if (!this.preRolloutDone) await this.preRollout();
    if (this.confirmedWeight === to) return;
    await this.confirm('confirm-traffic-increase');
    this.confirmedWeight = to;
  }

  /** Before each step: rollout webhooks, whose failures count. */
  async beforeStep(): Promise<void> {
    this.confirmedWeight = undefined;
    await this.check('rollout');
  }

  /**
   * The steps done, before the promotion: pre-rollout if no step gave the canary traffic, then
   * confirm-promotion, asking again every interval while analyses, rollout and rollback webhooks run on.
   */
  async beforePromotion(): Promise<void> {
    if (this.hooks.length === 0) return;
    await this.preRollout();
    await this.confirm('confirm-promotion');
  }

  /**
   * Asks the rollback webhooks every interval until stopped, in a scope of its own under the caller's
   * (the steps): a 2xx aborts the rollout.
   */
  watchForRollback(): { stop(): void } {
    const hooks = this.ofType('rollback');
    if (hooks.length === 0) return { stop: () => undefined };
    const scope = new CancellationScope();
    scope
      .run(() => Promise.all(hooks.map((hook) => this.pollRollback(hook))))
      .catch((error: unknown) => {
        if (!isCancellation(error)) log.warn('rollback webhooks stopped', { error: String(error) });
      });
    // Cancelled, a call in flight is abandoned: its answer would come too late to mean anything.
    return { stop: () => scope.cancel() };
  }

  // --- kinds ---------------------------------------------------------------------------------------------
  private ofType(type: WebhookType): Webhook[] {
    return this.hooks.filter((hook) => hook.type === type);
  }

  private freshAttempt(): void {
    if (this.attempt === this.gates.attempt) return;
    this.attempt = this.gates.attempt;
    this.failures.clear();
    this.preRolloutDone = false;
    this.confirmedWeight = undefined;
  }

  /** Before the new revision first gets traffic (blue-green: its preview pods Ready): pre-rollout, once. */
  async preRollout(): Promise<void> {
    if (this.preRolloutDone) return;
    await this.check('pre-rollout');
    this.preRolloutDone = true;
  }

  /** `step 2/5`, or `step 5/5 done` once the steps are. */
  private where(): string {
    const { currentStepIndex, stepCount } = this.run.state;
    return currentStepIndex >= stepCount ? `step ${stepCount}/${stepCount} done` : this.run.currentStep();
  }

  /** Gates that wait: each webhook of the kind in turn, until it says yes or a person promotes past it. */
  private async confirm(type: WebhookType): Promise<void> {
    const { gates, rolloutLog, run } = this;
    const { state } = run;
    for (const hook of this.ofType(type)) {
      const interval = durationOf(hook.interval, DEFAULT_INTERVAL);
      let held = false;
      let said: string | undefined;
      let promotedPast = false;
      for (let asked = 0; ; asked++) {
        if (gates.promotion?.full) return;
        // While confirm-promotion waits the canary is still judged, as Flagger's analysis goes on.
        if (type === 'confirm-promotion' && asked > 0) await this.check('rollout');
        const answer = await this.call(hook, this.payload(hook));
        if (answer.ok) break;
        const now = describeAnswer(answer);
        const message = `${this.where()}: waiting for ${type} hook '${hook.name}' (${now})`;
        if (!held) {
          held = true;
          state.paused = true;
          rolloutLog.enterPhase('Paused', message, EventReason.WebhookWaiting);
        } else if (now !== said) {
          state.message = message;
          rolloutLog.showDetails();
          rolloutLog.publishStatus();
        }
        said = now;
        const promoted = await condition(() => gates.promotion !== undefined, interval, {
          summary: `${type} '${hook.name}' said ${now}: ask again in ${formatDuration(interval)}`,
        });
        if (promoted) {
          promotedPast = true;
          break;
        }
      }
      if (!held) continue;
      // A promote is spent on the gate it released, as on a pause.
      if (promotedPast && !gates.promotion?.full) gates.promotion = undefined;
      state.paused = gates.pausing || gates.holds.size > 0;
      const [hold] = gates.holds.values();
      if (hold !== undefined) {
        rolloutLog.enterPhase('Paused', hold);
      } else {
        const how = promotedPast ? 'promoted past' : 'confirmed by';
        rolloutLog.enterPhase(
          'Progressing',
          `${this.where()}: ${how} ${type} hook '${hook.name}'`,
          EventReason.WebhookConfirmed,
        );
      }
    }
  }

  /**
   * Checks: each webhook of the kind until it says yes; a failure counts against its failureLimit and
   * is asked again after its interval, and one more than the limit aborts.
   */
  private async check(type: WebhookType): Promise<void> {
    const { rolloutLog, run } = this;
    this.freshAttempt();
    for (const hook of this.ofType(type)) {
      for (;;) {
        if (this.gates.promotion?.full) return;
        const answer = await this.call(hook, this.payload(hook));
        if (answer.ok) break;
        const failed = (this.failures.get(hook.name) ?? 0) + 1;
        this.failures.set(hook.name, failed);
        const now = describeAnswer(answer);
        const counted = `failed ${failed} time${failed === 1 ? '' : 's'} (failureLimit ${hook.failureLimit})`;
        if (failed > hook.failureLimit) {
          throw ApplicationFailure.nonRetryable(
            `${type} hook '${hook.name}' ${counted}: ${now}`,
            FailureType.WebhookFailed,
          );
        }
        const interval = durationOf(hook.interval, DEFAULT_INTERVAL);
        run.state.message = `${this.where()}: ${type} hook '${hook.name}' ${counted}: ${now}; asking again in ${formatDuration(interval)}`;
        rolloutLog.showDetails();
        rolloutLog.publishStatus(EventReason.WebhookCallFailed, 'Warning');
        await sleep(interval, {
          summary: `${type} '${hook.name}' said ${now}: failure ${failed} of ${hook.failureLimit} tolerated, again in ${formatDuration(interval)}`,
        });
      }
    }
  }

  private async pollRollback(hook: Webhook): Promise<void> {
    const interval = durationOf(hook.interval, DEFAULT_INTERVAL);
    for (;;) {
      const answer = await this.call(hook, this.payload(hook));
      const now = describeAnswer(answer);
      if (answer.ok) {
        this.gates.interrupt({
          kind: 'abort',
          reason: `rollback hook '${hook.name}' answered ${now}`,
          eventReason: EventReason.WebhookRollback,
        });
        return;
      }
      await sleep(interval, {
        summary: `rollback '${hook.name}' said ${now}: no rollback, ask again in ${formatDuration(interval)}`,
      });
    }
  }

  // --- notifications -------------------------------------------------------------------------------------
  /** The rollout log entered a phase: the event webhooks hear of it. */
  private phaseEntered(phase: RolloutPhase, message: string): void {
    const event: RolloutEventNote = {
      message,
      eventType: phase === 'Degraded' ? 'Warning' : 'Normal',
      timestamp: new Date().toISOString(),
    };
    this.inform('event', (hook) => this.payload(hook, event));
  }

  /** After the promotion or an abort of a revision whose steps began: the post-rollout webhooks. */
  private announced(kind: RolloutCDEventKind): void {
    if (!this.started || (kind !== 'published' && kind !== 'rolledback')) return;
    this.inform('post-rollout', (hook) => this.payload(hook));
  }

  /**
   * Calls that only inform go out in order behind the rollout, like CDEvents: the payloads say the
   * moment they were queued, nothing holds the rollout up, and a failure is logged (post-rollout's
   * with a Warning Event too) and never retried.
   */
  private inform(type: WebhookType, payloadOf: (hook: Webhook) => WebhookPayload): void {
    const hooks = this.ofType(type);
    if (hooks.length === 0) return;
    const calls = hooks.map((hook) => ({ hook, payload: payloadOf(hook) }));
    const { rollout, revision, label } = this.run;
    this.rolloutLog.webhooksSent = this.rolloutLog.webhooksSent.then(() =>
      CancellationScope.nonCancellable(async () => {
        for (const { hook, payload } of calls) {
          const answer = await this.call(hook, payload);
          if (answer.ok) continue;
          const message = `${type} hook '${hook.name}' failed: ${describeAnswer(answer)}`;
          log.warn('webhook failed', { rollout: label, webhook: hook.name, type, answer });
          if (type !== 'post-rollout') continue;
          await cluster.recordRolloutEvent
            .executeWithOptions({ summary: `event ${EventReason.WebhookCallFailed}` }, [
              {
                rollout,
                type: 'Warning',
                reason: EventReason.WebhookCallFailed,
                message: `r${revision}: ${message}`,
              },
            ])
            .catch(() => undefined);
        }
      }),
    );
  }

  // --- one call ------------------------------------------------------------------------------------------
  private payload(hook: Webhook, event?: RolloutEventNote): WebhookPayload {
    const { rollout, templateHash, state } = this.run;
    return webhookPayload(rollout, templateHash, state.phase, hook, event);
  }

  /** One call, one activity; a call the worker could not make at all is an answer too. */
  private async call(hook: Webhook, payload: WebhookPayload): Promise<WebhookAnswer> {
    const timeoutMs = durationOf(hook.timeout, DEFAULT_TIMEOUT);
    const secret = hook.headersFrom?.secretRef.name;
    try {
      return await webhookCalls.callWebhook.executeWithOptions(
        // The activity's own timeout leaves the call its whole time and the Secret's read some more.
        { summary: `webhook ${hook.type} '${hook.name}'`, startToCloseTimeout: timeoutMs + 15_000 },
        [
          {
            rollout: this.run.rollout,
            webhook: {
              name: hook.name,
              type: hook.type,
              url: hook.url,
              timeoutMs,
              ...(secret ? { headersFromSecret: secret } : {}),
            },
            payload,
          },
        ],
      );
    } catch (error) {
      if (isCancellation(error)) throw error;
      return { ok: false, error: `the call could not be made: ${failureMessage(error)}`, tookMs: 0 };
    }
  }
}

function durationOf(text: string | undefined, fallback: number): number {
  return (text === undefined ? undefined : parseDuration(text)) ?? fallback;
}
