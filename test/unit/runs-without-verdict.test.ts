import {
  decideRun,
  endedWithoutVerdict,
  endedWithoutVerdictMessage,
  endedWithoutVerdictStatus,
  startDue,
  started,
  type RunOutcome,
} from '../../k8s-bridge/runs-without-verdict';
import type { RolloutCondition } from '../../schemas/rollout';

const workflowId = 'shop/checkout/r2';
const at = (iso: string) => ({ lastTransitionTime: iso });
const dueSince = (iso: string): RolloutCondition => ({
  ...startDue(workflowId, 'revision 2 recorded'),
  ...at(iso),
});
const startedCondition: RolloutCondition = { ...started(workflowId), ...at('2026-12-01T10:00:00Z') };
const terminated = (startTime: string): RunOutcome => ({
  kind: 'ended',
  how: 'terminated: by hand',
  startTime: new Date(startTime),
});

describe('what the bridge does about a revision run', () => {
  it('keeps a running run, and records once that it started', () => {
    expect(decideRun({ kind: 'running' }, startedCondition, workflowId, false)).toEqual({ action: 'keep' });
    expect(decideRun({ kind: 'running' }, dueSince('2026-12-01T10:00:00Z'), workflowId, false)).toEqual({
      action: 'markStarted',
    });
    // A condition about the previous revision's run says nothing about this one.
    const previous = { ...started('shop/checkout/r1'), ...at('2026-12-01T09:00:00Z') };
    expect(decideRun({ kind: 'running' }, previous, workflowId, false)).toEqual({ action: 'markStarted' });
  });

  it('starts a run whose start is due and that Temporal does not know yet', () => {
    expect(decideRun({ kind: 'unknown' }, dueSince('2026-12-01T10:00:00Z'), workflowId, false)).toEqual({
      action: 'start',
      again: false,
    });
  });

  it('never starts again a run Temporal has forgotten, unless its template is already stable', () => {
    for (const condition of [startedCondition, undefined]) {
      expect(decideRun({ kind: 'unknown' }, condition, workflowId, false)).toEqual({
        action: 'endedWithoutVerdict',
        how: expect.stringContaining('Temporal no longer knows it'),
      });
    }
    expect(decideRun({ kind: 'unknown' }, startedCondition, workflowId, true)).toEqual({
      action: 'verdict',
      phase: 'Healthy',
      message: `${workflowId} made it stable`,
    });
  });

  it('says how a run ended without a verdict, and starts it again only for a retry asked after it began', () => {
    expect(decideRun(terminated('2026-12-01T10:00:01Z'), startedCondition, workflowId, false)).toEqual({
      action: 'endedWithoutVerdict',
      how: 'terminated: by hand',
    });
    // A retry recorded after the closed run began: that run is the one to replace.
    expect(
      decideRun(terminated('2026-12-01T10:00:00Z'), dueSince('2026-12-01T11:00:00Z'), workflowId, false),
    ).toEqual({ action: 'start', again: true });
    // A run that began after the start was due is the run that start was for, whatever became of it.
    expect(
      decideRun(terminated('2026-12-01T11:00:01Z'), dueSince('2026-12-01T11:00:00Z'), workflowId, false),
    ).toEqual({ action: 'endedWithoutVerdict', how: 'terminated: by hand' });
  });

  it('writes the verdict of a completed run, and never starts it again', () => {
    const completed: RunOutcome = {
      kind: 'completed',
      phase: 'Healthy',
      message: 'promoted',
      startTime: new Date('2026-12-01T10:00:00Z'),
    };
    expect(decideRun(completed, dueSince('2026-12-01T11:00:00Z'), workflowId, false)).toEqual({
      action: 'verdict',
      phase: 'Healthy',
      message: 'promoted',
    });
  });

  it('marks the Rollout Degraded with the way back, and knows it again by its Progressing condition', () => {
    const message = endedWithoutVerdictMessage(workflowId, 'checkout', 'terminated: by hand');
    expect(message).toBe(
      'the workflow shop/checkout/r2 ended without a verdict (terminated: by hand); `siirto retry checkout` ' +
        '(or `kubectl annotate rollouts.siirto.dev checkout siirto.dev/retry=true`) to run it again',
    );
    const status = endedWithoutVerdictStatus({ phase: 'Paused', conditions: [startedCondition] }, message);
    expect(status).toMatchObject({
      phase: 'Degraded',
      message,
      conditions: [
        startedCondition,
        expect.objectContaining({
          type: 'Progressing',
          status: 'False',
          reason: 'EndedWithoutVerdict',
          message,
        }),
      ],
    });
    expect(endedWithoutVerdict(status)).toBe(true);
    expect(endedWithoutVerdict({ ...status, phase: 'Progressing' })).toBe(false);
  });
});
