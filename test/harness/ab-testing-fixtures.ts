import { waitFor } from './wait';
import { kubectlApply, podMetadata, sampleContainer } from './rollout-fixtures';
import type { rolloutScenario } from './rollout-scenario';

/** The header that sends a request to variant B in the stack's A/B tests, with the value `b`. */
export const VARIANT_HEADER = 'x-variant';
/** Siirto's own rule for B on the HTTPRoute. */
export const VARIANT_B_RULE = 'siirto.ab-variant-b';

export interface AbTestingRolloutOptions {
  image: string;
  /** The sample app's behaviour, such as SAMPLE_APP_ERROR_RATE. */
  env?: Record<string, string | number>;
  replicas: number;
  maxDuration: string;
  /** `spec.strategy.abTesting.analysis`. */
  analysis: Record<string, unknown>;
}

/**
 * An A/B Rollout of the stack's sample app: A behind `<app>-stable`, B behind `<app>-canary`, B taking
 * the requests with `x-variant: b` through the HTTPRoute `<app>`, looking every interval the analysis
 * gives, and scaling a losing variant down after a second.
 */
export function abTestingRollout(namespace: string, app: string, options: AbTestingRolloutOptions): string {
  return JSON.stringify({
    apiVersion: 'siirto.dev/v1alpha1',
    kind: 'Rollout',
    metadata: { name: app, namespace },
    spec: {
      replicas: options.replicas,
      selector: { matchLabels: { app } },
      progressDeadlineSeconds: 60,
      template: {
        metadata: podMetadata(app),
        spec: { containers: [sampleContainer(options.image, options.env)] },
      },
      strategy: {
        abTesting: {
          variantAService: `${app}-stable`,
          variantBService: `${app}-canary`,
          variantBMatch: { header: { name: VARIANT_HEADER, value: { exact: 'b' } } },
          trafficRouting: { gatewayAPI: { httpRoute: app } },
          maxDuration: options.maxDuration,
          scaleDownDelaySeconds: 1,
          abortScaleDownDelaySeconds: 1,
          analysis: options.analysis,
        },
      },
    },
  });
}

/**
 * Applies a new revision and waits until its experiment runs (Siirto's rule for B on the route):
 * when it began, and the revision's pod-template hash.
 */
export async function experimentRunning(
  scenario: ReturnType<typeof rolloutScenario>,
  app: string,
  revision: number,
  manifest: string,
): Promise<{ started: number; hash: string }> {
  await kubectlApply(manifest);
  await waitFor(`r${revision}'s rule for B on the route`, async () =>
    (await scenario.see.routeRules(app)).some((rule) => rule.name === VARIANT_B_RULE),
  );
  const started = Date.now();
  const status = await scenario.waitForStatus(`r${revision} in the status`, (s) => s.revision === revision);
  return { started, hash: status.currentTemplateHash ?? '' };
}
