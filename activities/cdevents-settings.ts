import { z } from 'zod';
import type { CDEventOrigin } from '../cdevents/rollout-event';
import { formatDuration, parseDuration } from '../schemas/duration';
import { clusterIdSchema } from '../temporal/cluster-identity';

/**
 * Where and how the worker sends CDEvents, read from its environment once at start. The sink's
 * credentials stay here, in the worker: workflows never see them, so they never enter a history.
 */

export const CDEVENTS_MODES = ['binary', 'structured'] as const;
export type CDEventsMode = (typeof CDEVENTS_MODES)[number];

export interface CDEventsSettings {
  /** The sink's address; absent when emission is off. */
  sinkUrl?: string;
  /** CloudEvents HTTP content mode: attributes in headers (binary) or all in the body (structured). */
  mode: CDEventsMode;
  /** Sent with every request, the bearer token among them. Secret: never log or return them. */
  headers: Record<string, string>;
  /** How long one emission keeps retrying before it gives the event up. */
  retryForMs: number;
  origin: CDEventOrigin;
}

export class CDEventsSettingsError extends Error {
  override name = 'CDEventsSettingsError';
}

const DEFAULT_RETRY_FOR = '60s';
/** A header name as HTTP defines a token. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Headers the CloudEvents binding writes itself; a configured one would garble the event. */
const RESERVED_HEADER = /^(content-type|content-length|host|ce-.*)$/i;

/** Unset and empty are the same: manifests often template a variable to "" to mean "not set". */
const optionalText = z.preprocess(
  (value) => (typeof value === 'string' && value.trim() === '' ? undefined : value),
  z.string().trim().optional(),
);

/** An http(s) address; messages do not repeat it, since a URL may carry a token in its query. */
function httpUrl(example: string) {
  return optionalText.superRefine((value, context) => {
    if (value === undefined) return;
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      context.addIssue({ code: 'custom', message: `is not a URL; set it to an address such as ${example}` });
      return;
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      context.addIssue({ code: 'custom', message: `must be an http:// or https:// URL such as ${example}` });
    } else if (url.username || url.password) {
      context.addIssue({
        code: 'custom',
        message: `must not carry credentials; put the token in SIIRTO_CDEVENTS_AUTH_TOKEN or the headers in SIIRTO_CDEVENTS_HEADERS`,
      });
    }
  });
}

/** The JSON object of extra headers; its values are secrets, so no message repeats them. */
const extraHeaders = optionalText.transform((text, context): Record<string, string> => {
  if (text === undefined) return {};
  const fix = `set it to a JSON object of header names and string values, such as {"X-Api-Key":"..."}`;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    context.addIssue({ code: 'custom', message: `is not valid JSON; ${fix}` });
    return z.NEVER;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    context.addIssue({ code: 'custom', message: `is not a JSON object; ${fix}` });
    return z.NEVER;
  }
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(parsed)) {
    if (!HEADER_NAME.test(name)) {
      context.addIssue({
        code: 'custom',
        message: `has ${JSON.stringify(name)}, which is not a header name`,
      });
    } else if (RESERVED_HEADER.test(name)) {
      context.addIssue({
        code: 'custom',
        message: `sets ${name}, which the CloudEvents binding writes itself; remove it`,
      });
    } else if (typeof value !== 'string' || /[\r\n]/.test(value)) {
      context.addIssue({
        code: 'custom',
        message: `gives ${name} a value that is not a one-line string; ${fix}`,
      });
    } else {
      headers[name.toLowerCase()] = value;
    }
  }
  return headers;
});

const CDEventsEnvironmentSchema = z
  .object({
    SIIRTO_CDEVENTS_SINK_URL: httpUrl('http://broker-ingress.example/default/default'),
    SIIRTO_CDEVENTS_MODE: optionalText.pipe(
      z.enum(CDEVENTS_MODES, { error: `must be ${CDEVENTS_MODES.join(' or ')}` }).default('binary'),
    ),
    SIIRTO_CDEVENTS_HEADERS: extraHeaders,
    SIIRTO_CDEVENTS_AUTH_TOKEN: optionalText.refine((token) => token === undefined || !/\s/.test(token), {
      message: 'must be the bare token, without white space or a "Bearer " prefix',
    }),
    SIIRTO_CLUSTER_ID: optionalText.default('local').pipe(clusterIdSchema),
    SIIRTO_CDEVENTS_RETRY_FOR: optionalText.default(DEFAULT_RETRY_FOR).transform((text, context) => {
      const milliseconds = parseDuration(text);
      if (milliseconds === undefined || milliseconds <= 0) {
        context.addIssue({
          code: 'custom',
          message: `must be a positive duration such as 30s or 2m, got ${JSON.stringify(text)}`,
        });
        return z.NEVER;
      }
      return milliseconds;
    }),
    SIIRTO_TEMPORAL_UI_URL: httpUrl('https://temporal.example.com'),
  })
  .superRefine((env, context) => {
    if (env.SIIRTO_CDEVENTS_AUTH_TOKEN !== undefined && 'authorization' in env.SIIRTO_CDEVENTS_HEADERS) {
      context.addIssue({
        code: 'custom',
        path: ['SIIRTO_CDEVENTS_HEADERS'],
        message: 'sets Authorization, and so does SIIRTO_CDEVENTS_AUTH_TOKEN; keep one of them',
      });
    }
  });

export interface CDEventsSettingsContext {
  /** The Temporal namespace the worker serves, for links to its workflows. */
  temporalNamespace: string;
}

/**
 * Reads the CDEvents settings. A wrong value stops the worker at start with a message naming the
 * variable and the fix, rather than losing every event later.
 */
export function cdEventsSettingsFromEnv(
  context: CDEventsSettingsContext,
  env: NodeJS.ProcessEnv = process.env,
): CDEventsSettings {
  const parsed = CDEventsEnvironmentSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')} ${issue.message}`);
    throw new CDEventsSettingsError(`invalid CDEvents settings in the environment: ${problems.join('; ')}`);
  }
  const values = parsed.data;
  const headers = { ...values.SIIRTO_CDEVENTS_HEADERS };
  if (values.SIIRTO_CDEVENTS_AUTH_TOKEN !== undefined) {
    headers.authorization = `Bearer ${values.SIIRTO_CDEVENTS_AUTH_TOKEN}`;
  }
  return {
    sinkUrl: values.SIIRTO_CDEVENTS_SINK_URL,
    mode: values.SIIRTO_CDEVENTS_MODE,
    headers,
    retryForMs: values.SIIRTO_CDEVENTS_RETRY_FOR,
    origin: {
      clusterId: values.SIIRTO_CLUSTER_ID,
      temporalNamespace: context.temporalNamespace,
      webUiUrl: values.SIIRTO_TEMPORAL_UI_URL,
    },
  };
}

/** The settings as a log line may show them: header names, never their values. */
export function describeCDEventsSettings(settings: CDEventsSettings): Record<string, unknown> {
  if (!settings.sinkUrl) return { cdEvents: 'off' };
  const sink = new URL(settings.sinkUrl);
  return {
    cdEvents: 'on',
    cdEventsSink: `${sink.origin}${sink.pathname}`,
    cdEventsMode: settings.mode,
    cdEventsHeaders: Object.keys(settings.headers),
    cdEventsRetryFor: formatDuration(settings.retryForMs),
    clusterId: settings.origin.clusterId,
  };
}
