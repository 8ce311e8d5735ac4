import { ReconcileQueue, type ReconcileOutcome } from '../../k8s-bridge/reconcile-queue';
import { waitFor } from '../harness/wait';

/** A reconcile that holds each run open until the test releases it, recording the runs' overlap. */
function controllableReconcile() {
  const runs: string[] = [];
  const active = new Set<string>();
  let overlapped = false;
  const releases: (() => void)[] = [];
  const reconcile = async (key: string): Promise<ReconcileOutcome> => {
    if (active.has(key)) overlapped = true;
    active.add(key);
    runs.push(key);
    await new Promise<void>((resolve) => releases.push(resolve));
    active.delete(key);
    return 'done';
  };
  return {
    reconcile,
    runs,
    releaseAll: () => releases.splice(0).forEach((release) => release()),
    overlapped: () => overlapped,
  };
}

describe('the reconcile queue', () => {
  it('runs one reconcile per key at a time and folds a burst into one follow-up run', async () => {
    const work = controllableReconcile();
    const queue = new ReconcileQueue(work.reconcile);
    queue.enqueue('shop/checkout');
    queue.enqueue('shop/cart');
    for (let event = 0; event < 5; event++) queue.enqueue('shop/checkout');
    expect(work.runs).toEqual(['shop/checkout', 'shop/cart']);

    work.releaseAll();
    await waitFor('the follow-up run', () => work.runs.length === 3);
    expect(work.runs[2]).toBe('shop/checkout');
    work.releaseAll();
    await queue.stop();
    expect(work.overlapped()).toBe(false);
    expect(work.runs).toHaveLength(3);
  });

  it('runs again at once after a requeue, and retries failures with growing backoff', async () => {
    const outcomes: (ReconcileOutcome | Error)[] = [
      'requeue',
      new Error('apiserver unavailable'),
      new Error('still'),
      'done',
    ];
    const delays: number[] = [];
    let calls = 0;
    const queue = new ReconcileQueue(
      async () => {
        const outcome = outcomes[calls++]!;
        if (outcome instanceof Error) throw outcome;
        return outcome;
      },
      { initialRetryMs: 10, onError: (_key, _error, retryInMs) => delays.push(retryInMs) },
    );
    queue.enqueue('shop/checkout');
    await waitFor('four runs', () => calls === 4 && queue.busyKeys.length === 0);
    expect(delays).toEqual([10, 20]);
    await queue.stop();
  });

  it('waits for runs in progress on stop and takes no more work', async () => {
    const work = controllableReconcile();
    const queue = new ReconcileQueue(work.reconcile);
    queue.enqueue('shop/checkout');
    let stopped = false;
    const stopping = queue.stop().then(() => (stopped = true));
    queue.enqueue('shop/cart');
    await Promise.resolve();
    expect(stopped).toBe(false);
    work.releaseAll();
    await stopping;
    expect(work.runs).toEqual(['shop/checkout']);
  });

  it('runs at most maxConcurrent keys at once, the others in the order they came', async () => {
    const work = controllableReconcile();
    const queue = new ReconcileQueue(work.reconcile, { maxConcurrent: 2 });
    const keys = ['shop/a', 'shop/b', 'shop/c', 'shop/d', 'shop/e'];
    for (const key of keys) queue.enqueue(key);
    expect(work.runs).toEqual(['shop/a', 'shop/b']);
    expect(queue.busyKeys).toHaveLength(5);

    work.releaseAll();
    await waitFor('the next two', () => work.runs.length === 4);
    expect(work.runs).toEqual(keys.slice(0, 4));
    work.releaseAll();
    await waitFor('the last one', () => work.runs.length === 5);
    work.releaseAll();
    await waitFor('all done', () => queue.busyKeys.length === 0);
    expect(work.runs).toEqual(keys);
    expect(work.overlapped()).toBe(false);
    await queue.stop();
  });

  it('folds the changes asked for later into one run after the delay', async () => {
    const work = controllableReconcile();
    const queue = new ReconcileQueue(work.reconcile);
    const asked = performance.now();
    for (let change = 0; change < 3; change++) queue.enqueueLater('shop/checkout', 300);
    expect(work.runs).toEqual([]);
    await waitFor('the later run', () => work.runs.length === 1, { intervalMs: 10 });
    expect(performance.now() - asked).toBeGreaterThanOrEqual(290);
    work.releaseAll();
    await waitFor('the key to be idle', () => queue.busyKeys.length === 0);
    // The delay asked for again while it ran would have made a second run; none was asked.
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(work.runs).toEqual(['shop/checkout']);
    await queue.stop();
  });

  it('lets a run asked for now take the place of one asked for later', async () => {
    const work = controllableReconcile();
    const queue = new ReconcileQueue(work.reconcile);
    queue.enqueueLater('shop/checkout', 200);
    queue.enqueue('shop/checkout');
    expect(work.runs).toEqual(['shop/checkout']);
    work.releaseAll();
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(work.runs).toEqual(['shop/checkout']);
    await queue.stop();
  });

  it('drops the runs asked for later on stop', async () => {
    const work = controllableReconcile();
    const queue = new ReconcileQueue(work.reconcile);
    queue.enqueueLater('shop/checkout', 100);
    await queue.stop();
    await new Promise((resolve) => setTimeout(resolve, 250));
    expect(work.runs).toEqual([]);
  });

  it('stops with keys still waiting for a slot without running them', async () => {
    const work = controllableReconcile();
    const queue = new ReconcileQueue(work.reconcile, { maxConcurrent: 1 });
    queue.enqueue('shop/a');
    queue.enqueue('shop/b');
    const stopping = queue.stop();
    work.releaseAll();
    await stopping;
    expect(work.runs).toEqual(['shop/a']);
  });
});
