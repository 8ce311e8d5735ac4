import { z } from 'zod';
import { parseDuration } from './duration';

/**
 * Webhooks of a rollout, with the kinds and meanings Flagger gives them, so that the gates, smoke tests
 * and notifications a team has built for Flagger answer Siirto as they are. Each is a POST of a JSON
 * payload (webhook-payload.ts) to `url`; an HTTP 2xx answer is a yes. Headers come from a Secret read
 * by the worker at call time, so their values never reach a workflow's input or history.
 */

/** The kinds of webhook, in the order a rollout that runs them all calls them. */
export const WEBHOOK_TYPES = [
  'confirm-rollout',
  'pre-rollout',
  'confirm-traffic-increase',
  'rollout',
  'confirm-promotion',
  'post-rollout',
  'rollback',
  'event',
] as const;
export type WebhookType = (typeof WEBHOOK_TYPES)[number];

/** Kinds that hold the rollout until they answer 2xx, asked again every `interval`. */
export const CONFIRM_TYPES: readonly WebhookType[] = [
  'confirm-rollout',
  'confirm-traffic-increase',
  'confirm-promotion',
];

export const WEBHOOK_TIMEOUT_DEFAULT = '10s';
export const WEBHOOK_INTERVAL_DEFAULT = '15s';
const TIMEOUT_BOUNDS = { min: 1_000, max: 300_000, text: 'between 1s and 5m' };
const INTERVAL_BOUNDS = { min: 1_000, max: 3_600_000, text: 'between 1s and 1h' };

/** A duration string checked by the parser every other duration of a Rollout goes through. */
function boundedDuration(bounds: { min: number; max: number; text: string }, example: string) {
  return z.string().superRefine((text, context) => {
    const milliseconds = parseDuration(text);
    if (milliseconds === undefined || milliseconds < bounds.min || milliseconds > bounds.max) {
      context.addIssue({
        code: 'custom',
        message: `"${text}" is not a duration ${bounds.text}: write one such as ${example}`,
      });
    }
  });
}

/** A URL Siirto may POST to: http or https only, so no other scheme reaches the worker's fetch. */
const WebhookUrlSchema = z
  .string()
  .max(2048)
  .superRefine((text, context) => {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      context.addIssue({
        code: 'custom',
        message: `"${text}" is not a URL: write one such as http://gate.shop.svc:8080/approve`,
      });
      return;
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      context.addIssue({
        code: 'custom',
        message: `${url.protocol} URLs cannot be called: write an http:// or https:// URL`,
      });
    } else if (url.username || url.password) {
      context.addIssue({
        code: 'custom',
        message: 'credentials in the URL would land in the workflow history: put them in headersFrom instead',
      });
    }
  })
  .meta({ description: 'The http:// or https:// URL Siirto POSTs the payload to.' });

export const WebhookSchema = z
  .object({
    name: z
      .string()
      .min(1)
      .max(63)
      .regex(/^[A-Za-z0-9]([A-Za-z0-9 ._-]*[A-Za-z0-9])?$/, {
        message:
          'write the name in letters, digits, spaces, dots, dashes and underscores, such as smoke-test',
      })
      .meta({ description: 'Name of the webhook, unique in the list; messages and the history name it.' }),
    type: z
      .enum(WEBHOOK_TYPES, {
        error: `write one of ${WEBHOOK_TYPES.join(', ')}`,
      })
      .meta({
        description:
          'When it is called: confirm-rollout (before the canary scales up; waits for 2xx), pre-rollout (before ' +
          'the canary first gets traffic; a failure counts), confirm-traffic-increase (before each weight ' +
          'increase; waits), rollout (before each step; a failure counts), confirm-promotion (before the ' +
          'promotion; waits while analyses run on), post-rollout (after promotion or abort; failures only ' +
          'logged), rollback (asked every interval during the steps; a 2xx aborts), event (every phase).',
      }),
    url: WebhookUrlSchema,
    timeout: boundedDuration(TIMEOUT_BOUNDS, '10s')
      .default(WEBHOOK_TIMEOUT_DEFAULT)
      .meta({ description: 'How long a call may take, between 1s and 5m; 10s unless set.' }),
    interval: boundedDuration(INTERVAL_BOUNDS, '15s')
      .default(WEBHOOK_INTERVAL_DEFAULT)
      .meta({
        description:
          'Time between calls of a webhook that waits or is retried (confirm-*, pre-rollout, rollout, ' +
          'rollback), between 1s and 1h; 15s unless set.',
      }),
    failureLimit: z
      .number()
      .int()
      .min(0)
      .max(100)
      .default(0)
      .meta({
        description:
          'pre-rollout and rollout: failed calls tolerated (each retried after interval); one more aborts ' +
          'the rollout, as an analysis failure does. 0 unless set.',
      }),
    metadata: z
      .record(z.string(), z.string())
      .optional()
      .meta({ maxProperties: 64, description: "Sent as the payload's metadata, as Flagger sends it." }),
    headersFrom: z
      .object({
        secretRef: z.object({
          name: z
            .string()
            .min(1)
            .max(253)
            .meta({ description: 'A Secret in the Rollout namespace; each key is a header name.' }),
        }),
      })
      .optional()
      .meta({
        description:
          "Request headers from a Secret's keys and values (Authorization: Bearer …), read by the worker at " +
          'each call: never in the workflow input or history.',
      }),
  })
  .meta({ description: 'A webhook the rollout calls at the moment its type names.' });

export const WebhooksSchema = z
  .array(WebhookSchema)
  .max(32)
  .superRefine((webhooks, context) => {
    const seen = new Set<string>();
    webhooks.forEach((webhook, index) => {
      if (seen.has(webhook.name)) {
        context.addIssue({
          code: 'custom',
          path: [index, 'name'],
          message: `webhook name "${webhook.name}" is used twice: give each webhook a name of its own`,
        });
      }
      seen.add(webhook.name);
    });
  })
  .meta({ description: "Webhooks, with Flagger's kinds and meanings: gates, checks and notifications." });

export type Webhook = z.infer<typeof WebhookSchema>;

/** A blue-green switch moves all traffic at once: there is no increase for a webhook to confirm. */
export const BlueGreenWebhooksSchema = WebhooksSchema.superRefine((webhooks, context) => {
  webhooks.forEach((webhook, index) => {
    if (webhook.type === 'confirm-traffic-increase') {
      context.addIssue({
        code: 'custom',
        path: [index, 'type'],
        message:
          'a blue-green switch moves all traffic at once, so confirm-traffic-increase is never called: use confirm-promotion',
      });
    }
  });
}).meta({
  description:
    "Webhooks, with Flagger's kinds and meanings: confirm-rollout before the preview scales up, " +
    'pre-rollout once its pods are Ready, rollout before each step, confirm-promotion before the switch, ' +
    'rollback while the steps run, post-rollout and event as for a canary. No confirm-traffic-increase.',
});
