import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { abortUpdate } from '../../workflows/rollout-api';
import { isolate } from '../harness/isolation';
import { setImage } from '../harness/rollout-fixtures';
import { rolloutScenario } from '../harness/rollout-scenario';
import { stack } from '../harness/stack';
import { waitFor } from '../harness/wait';

const app = 'reviews';
const SCREENSHOTS = path.join(stack.projectDir, 'test-artifacts', 'screenshots');
const CHROMIUM = process.env.SIIRTO_CHROMIUM ?? '/usr/bin/chromium';
// Headless on a machine with no network beyond loopback: no background calls home, no sandbox as root.
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

describe('rollouts in the Temporal Web UI', () => {
  const scope = isolate('ui');
  const scenario = rolloutScenario(scope, app);
  let browser: Browser;

  beforeAll(async () => {
    mkdirSync(SCREENSHOTS, { recursive: true });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  });
  afterAll(async () => browser?.close());

  /** Opens a workflow's page as a person would and returns the text it shows, keeping a screenshot. */
  async function workflowPage(workflowId: string, expected: string[], screenshot: string): Promise<string> {
    const page = await browser.newPage({ viewport: { width: 1600, height: 2400 } });
    try {
      await page.goto(
        `${stack.temporalUiUrl}/namespaces/default/workflows/${encodeURIComponent(workflowId)}`,
      );
      const text = await waitFor(
        `the Web UI to show ${workflowId} with its step summaries`,
        async () => {
          const shown = await page.innerText('body');
          return expected.every((summary) => shown.includes(summary)) && shown;
        },
        { timeoutMs: 30_000, intervalMs: 500 },
      );
      await page.screenshot({ path: path.join(SCREENSHOTS, screenshot), fullPage: true });
      return text;
    } finally {
      await page.close();
    }
  }

  it('shows the step summaries of a completed canary and of a rolled-back one', async () => {
    const steps = [{ setWeight: 20 }, { pause: { duration: '2s' } }, { setWeight: 50 }, { pause: {} }];
    await scenario.firstRevisionHealthy(steps);

    await setImage(scope.namespace, app, `registry.example/${app}:2`);
    const second = await scenario.waitForStatus(
      'r2 to wait at 50%',
      (s) => s.revision === 2 && s.currentStepIndex === 3,
    );
    await scenario.client.workflow.getHandle(second.workflowId!).signal('promote', { full: true });
    await scenario.waitForStatus('r2 to become Healthy', (s) => s.revision === 2 && s.phase === 'Healthy');

    await setImage(scope.namespace, app, `registry.example/${app}:3`);
    const third = await scenario.waitForStatus(
      'r3 to wait at 50%',
      (s) => s.revision === 3 && s.currentStepIndex === 3,
    );
    await scenario.client.workflow
      .getHandle(third.workflowId!)
      .executeUpdate(abortUpdate, { args: [{ reason: 'latency regression', by: 'on-call' }] });
    await scenario.waitForStatus('r3 to become Degraded', (s) => s.revision === 3 && s.phase === 'Degraded');

    const completed = await workflowPage(
      second.workflowId!,
      ['Completed', 'set weight 20%', 'pause 2s', 'set weight 50%', 'set weight 100% on new stable'],
      'rollout-completed.png',
    );
    expect(completed).toContain('canaryRollout');

    const rolledBack = await workflowPage(
      third.workflowId!,
      ['set weight 50%', 'abort: traffic back to stable', 'scale canary to 0', 'status Degraded'],
      'rollout-rolled-back.png',
    );
    expect(rolledBack).toContain('aborted by on-call: latency regression');
  });
});
