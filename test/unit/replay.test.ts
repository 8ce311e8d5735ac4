import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'histories');
/**
 * Histories recorded before the workflow code took its `patched()` changes: rollouts that were
 * running when a worker is upgraded must go on under the new code.
 */
const BEFORE_PATCHES = path.join(FIXTURES, 'recorded-before-patches');

/** The scenarios the end-to-end tests record; each must be kept, so none is lost unnoticed. */
const SCENARIOS = [
  'ab-testing-b-wins',
  'ab-testing-continued-as-new',
  'ab-testing-continued-verdict',
  'ab-testing-latency-guardrail',
  'ab-testing-no-difference',
  'analysis-run-continued-as-new',
  'analysis-run-stopped',
  'analysis-run-successful',
  'analysis-run-unusable-metric',
  'blue-green-fast-track-rollback',
  'blue-green-post-promotion-analysis-switched-back',
  'blue-green-pre-promotion-analysis-failed',
  'blue-green-promoted',
  'blue-green-webhooks-promoted',
  'canary-aborted-then-retried',
  'canary-aborted-while-waiting-for-pods',
  'canary-aborted-with-route-deleted',
  'canary-analysis-failed',
  'canary-analysis-held-then-resumed',
  'canary-analysis-successful',
  'canary-answered-its-successor',
  'canary-background-analysis-concluded',
  'canary-background-judge-continued-as-new',
  'canary-background-judge-failed',
  'canary-background-judge-successful',
  'canary-cancelled-by-delete',
  'canary-continued-as-new',
  'canary-header-route-aborted',
  'canary-header-route-promoted',
  'canary-header-route-superseded',
  'canary-judge-failed',
  'canary-judge-successful',
  'canary-promoted-by-annotation',
  'canary-promoted-by-tctl',
  'canary-promoted-by-temporal-cli',
  'canary-promoted-during-a-hold',
  'canary-promoted-past-a-background-hold',
  'canary-promoted-route-first',
  'canary-promotion-onto-edited-route',
  'canary-promotion-starved-then-aborted',
  'canary-resized-while-paused',
  'canary-resized-while-waiting-for-pods',
  'canary-restored-replica-set-and-weights',
  'canary-resumed-after-continue-as-new',
  'canary-scaled-apart-from-weight',
  'canary-scales-down-what-its-predecessor-left',
  'canary-superseded',
  'canary-superseded-before-start',
  'canary-superseded-keeps-its-pods',
  'canary-superseding',
  'canary-superseding-a-promotion',
  'canary-survives-worker-kill',
  'canary-unready-mid-step',
  'canary-webhook-check-failed',
  'canary-webhook-gate-held-then-confirmed',
  'canary-webhook-rollback-aborted',
  'canary-webhooks-promoted',
  'canary-weights-set-over-http',
  'canary-without-router',
  'first-revision-never-ready',
  'first-revision-straight-to-stable',
  'fleet-release-approved-by-annotation',
];

const fixturesIn = (folder: string) =>
  readdirSync(folder)
    .filter((file) => file.endsWith('.json'))
    .map((file) => path.join(folder, file));

/**
 * Histories recorded from real rollouts (`SIIRTO_RECORD_HISTORIES=1`, see CONTRIBUTING.md) replayed against
 * the current workflow code: a change that would break rollouts already running fails here.
 */
describe('recorded rollout histories', () => {
  const files = [...fixturesIn(FIXTURES), ...fixturesIn(BEFORE_PATCHES)];

  it('cover every recorded scenario, from the current code and from before its patches', () => {
    const current = fixturesIn(FIXTURES).map((file) => path.basename(file, '.json'));
    expect(current.sort()).toEqual(SCENARIOS);
    expect(fixturesIn(BEFORE_PATCHES).length).toBeGreaterThan(0);
  });

  it.each(files.map((file) => [path.relative(FIXTURES, file), file]))(
    '%s replays without nondeterminism',
    async (name, file) => {
      const { workflowId, ...recorded } = JSON.parse(readFileSync(file, 'utf8')) as { workflowId?: string };
      // The original ID where the workflow derives names from it (its analyses' child workflow IDs).
      await Worker.runReplayHistory(
        { workflowsPath: require.resolve('../../workflows'), replayName: name },
        historyFromJSON(recorded),
        workflowId ?? path.basename(file, '.json'),
      );
    },
  );
});
