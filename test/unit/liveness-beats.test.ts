import { MockActivityEnvironment } from '@temporalio/testing';
import { beatingWhileRunning } from '../../activities/liveness-beats';

/** An activity that takes `milliseconds` and returns its input doubled. */
const slowDouble = (milliseconds: number) => async (input: number) => {
  await new Promise((resolve) => setTimeout(resolve, milliseconds));
  return input * 2;
};

/** Runs the wrapped activity in an activity context with the heartbeat timeout given; counts its beats. */
async function beatsWhile(heartbeatTimeoutMs: number | undefined, runMilliseconds: number) {
  const environment = new MockActivityEnvironment({ heartbeatTimeoutMs });
  let beats = 0;
  environment.on('heartbeat', () => (beats += 1));
  const { double } = beatingWhileRunning({ double: slowDouble(runMilliseconds) });
  const result = await environment.run(double, 21);
  const beatsWhenDone = beats;
  // None after it returned.
  await new Promise((resolve) => setTimeout(resolve, heartbeatTimeoutMs ?? 0));
  return { result, beatsWhenDone, beatsLater: beats };
}

describe('the worker beating for an activity that makes a few calls', () => {
  it('beats every third of the heartbeat timeout while the activity runs, and returns its result', async () => {
    const { result, beatsWhenDone, beatsLater } = await beatsWhile(300, 1_000);
    expect(result).toBe(42);
    // Every 100 ms of a 1 s run; a busy machine delays some, and never adds any.
    expect(beatsWhenDone).toBeGreaterThanOrEqual(4);
    expect(beatsWhenDone).toBeLessThanOrEqual(10);
    expect(beatsLater).toBe(beatsWhenDone);
  });

  it('sends no beat for an activity that returns within a third of its heartbeat timeout', async () => {
    const { beatsWhenDone, beatsLater } = await beatsWhile(3_000, 20);
    expect(beatsWhenDone).toBe(0);
    expect(beatsLater).toBe(0);
  });

  it('sends no beat for an activity scheduled without a heartbeat timeout', async () => {
    const { result, beatsLater } = await beatsWhile(undefined, 200);
    expect(result).toBe(42);
    expect(beatsLater).toBe(0);
  });

  it('stops beating when the activity fails, and passes its failure on', async () => {
    const environment = new MockActivityEnvironment({ heartbeatTimeoutMs: 300 });
    let beats = 0;
    environment.on('heartbeat', () => (beats += 1));
    const { fail } = beatingWhileRunning({
      fail: async (message: string) => {
        await new Promise((resolve) => setTimeout(resolve, 250));
        throw new Error(message);
      },
    });
    await expect(environment.run(fail, 'the apiserver refused')).rejects.toThrow('the apiserver refused');
    const beatsWhenFailed = beats;
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(beats).toBe(beatsWhenFailed);
    expect(beatsWhenFailed).toBeGreaterThanOrEqual(1);
  });
});
