import { z } from 'zod';
import {
  AnalysisStatusSchema,
  BackgroundAnalysisSchema,
  CanaryStepAnalysisSchema,
  RolloutAnalysisSchema,
} from './analysis';
import { BlueGreenWebhooksSchema, WebhooksSchema } from './webhooks';

/**
 * The Rollout resource, `siirto.dev/v1alpha1`. These schemas are the single source of truth: the
 * TypeScript types derive from them, the CRD's OpenAPI schema is generated from them
 * (`npm run crd:generate`), and the bridge parses every Rollout it sees with them.
 *
 * What the apiserver can check (shapes, types, "exactly one of") lives in the schema and reaches the
 * CRD. What needs reading or the cluster (durations, weights above 100, referenced objects) is checked
 * in rollout-validation.ts and turns a Rollout `Invalid` rather than rejecting it at apply time.
 */

/** Adds a rule that exactly one of `fields` is set, both for zod and, as CEL, for the apiserver. */
function exactlyOneOf<Shape extends z.ZodRawShape>(
  schema: z.ZodObject<Shape>,
  fields: (keyof Shape & string)[],
) {
  const message = `set exactly one of ${fields.join(', ')}`;
  return schema
    .superRefine((value, context) => {
      const set = fields.filter((field) => (value as Record<string, unknown>)[field] !== undefined);
      // Point at the second field set (the one too many), or at the object when none is.
      if (set.length !== 1) context.addIssue({ code: 'custom', message, path: set.slice(1, 2) });
    })
    .meta({
      'x-kubernetes-validations': [
        {
          rule: `[${fields.map((field) => `has(self.${field})`).join(', ')}].filter(x, x).size() == 1`,
          message,
        },
      ],
    });
}

const preserveUnknownFields = { 'x-kubernetes-preserve-unknown-fields': true };

export const LabelSelectorSchema = z
  .object({
    matchLabels: z.record(z.string(), z.string()).optional(),
    matchExpressions: z
      .array(
        z.object({
          key: z.string(),
          operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist']),
          values: z.array(z.string()).optional(),
        }),
      )
      .optional(),
  })
  .meta({ description: 'Label selector for the pods of this Rollout. It must match the template labels.' });

export const PodTemplateSchema = z
  .object({
    metadata: z
      .object({
        labels: z.record(z.string(), z.string()).optional(),
        annotations: z.record(z.string(), z.string()).optional(),
      })
      .optional(),
    spec: z.record(z.string(), z.unknown()).meta(preserveUnknownFields),
  })
  .meta({
    description:
      'Pod template, as in a Deployment. Each distinct template is a revision with its own ReplicaSet.',
  });

/**
 * A string or a whole number of seconds: Kubernetes' int-or-string, which the apiserver types by
 * `x-kubernetes-int-or-string` (the CRD generator writes the `anyOf` that goes with it).
 */
const PAUSE_DURATION_FIX = 'write a duration like 30s, 5m or 1h30m, or whole seconds like 10 (not negative)';

export const PauseDurationSchema = z
  .union([z.string(), z.number().int({ error: PAUSE_DURATION_FIX }).min(0, { error: PAUSE_DURATION_FIX })], {
    error: PAUSE_DURATION_FIX,
  })
  .meta({
    'x-kubernetes-int-or-string': true,
    description:
      'How long to pause, such as 30s, 5m or 1h30m, or a number of seconds such as 10, as Argo Rollouts ' +
      'takes it. Leave out to wait for a promote.',
  });

export const PauseSchema = z
  .object({
    duration: PauseDurationSchema.optional(),
    external: z
      .boolean()
      .optional()
      .meta({
        description:
          "Until promoted, an outside system sets the canary's weight (0-100) through the bridge's HTTP " +
          'command endpoint (setWeight) or `siirto set-weight`. No duration goes with it.',
      }),
  })
  .meta({
    description:
      'Pause the rollout: for a duration, until promoted when no duration is given, or with external ' +
      "until promoted while an outside system sets the canary's weight.",
  });

/** A value to match as Argo Rollouts writes it: exactly one of exact, prefix or regex. */
export const StringMatchSchema = exactlyOneOf(
  z.object({
    exact: z.string().max(1024).optional().meta({ description: 'The value, exactly.' }),
    prefix: z.string().max(1024).optional().meta({ description: 'A value that starts with this.' }),
    regex: z
      .string()
      .max(1024)
      .optional()
      .meta({ description: 'A regular expression the value matches (RE2).' }),
  }),
  ['exact', 'prefix', 'regex'],
).meta({ description: 'How to match a value: exactly one of exact, prefix or regex.' });

/** A managed route's name: Siirto names the rules it adds to a route after it, so it is a DNS label. */
const ManagedRouteNameSchema = z
  .string()
  .max(63)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, {
    message: 'write the name in lower case letters, digits and dashes (a DNS label), such as canary-header',
  })
  .meta({ description: 'Name of the route; a later step with the same name changes or removes it.' });

/** An HTTP header name as Gateway API accepts it. */
const HeaderNameSchema = z
  .string()
  .min(1)
  .max(256)
  .regex(/^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$/, {
    message: 'write an HTTP header name, such as X-Canary, without spaces or a colon',
  });

export const SetHeaderRouteSchema = z
  .object({
    name: ManagedRouteNameSchema,
    match: z
      .array(
        z.object({
          headerName: HeaderNameSchema.meta({
            description: 'The request header to match, such as X-Canary.',
          }),
          headerValue: StringMatchSchema,
        }),
      )
      .min(1)
      .max(16)
      .optional()
      .meta({
        description: 'Headers a request must all carry to go to the canary; leave out to remove the route.',
      }),
  })
  .meta({ description: 'Send requests with these headers to the canary, whatever the weights.' });

export const SetMirrorRouteSchema = z
  .object({
    name: ManagedRouteNameSchema,
    percentage: z
      .number()
      .int()
      .min(0)
      .max(100)
      .optional()
      .meta({ description: 'Percentage of the matched requests copied to the canary; 100 unless set.' }),
    match: z
      .array(
        z.object({
          method: StringMatchSchema.optional().meta({ description: 'The HTTP method, exact only.' }),
          path: StringMatchSchema.optional(),
          headers: z.record(z.string(), StringMatchSchema).optional().meta({
            maxProperties: 16,
            description: 'Headers to match, by name, such as {X-Debug: {exact: "1"}}.',
          }),
        }),
      )
      .min(1)
      .max(16)
      .optional()
      .meta({ description: 'Requests to copy, of those the route serves; leave out to remove the route.' }),
  })
  .meta({ description: "Copy requests to the canary; the canary's answers are dropped." });

export const SetCanaryScaleSchema = exactlyOneOf(
  z.object({
    replicas: z.number().int().min(0).optional().meta({ description: 'This many canary pods.' }),
    weight: z
      .number()
      .int()
      .min(0)
      .max(100)
      .optional()
      .meta({ description: 'Canary pods for this percentage of spec.replicas, rounded up.' }),
    matchTrafficWeight: z
      .literal(true)
      .optional()
      .meta({ description: 'Size the canary by its traffic weight again, as setWeight does.' }),
  }),
  ['replicas', 'weight', 'matchTrafficWeight'],
).meta({
  description:
    'Size the canary apart from its traffic weight until a later setCanaryScale with matchTrafficWeight or the end; setWeight then moves only traffic (a canary with traffic keeps at least one pod).',
});

export const CanaryStepSchema = exactlyOneOf(
  z.object({
    setWeight: z
      .number()
      .int()
      .min(0)
      .optional()
      .meta({ description: 'Percentage of traffic (0-100) for the canary; its pods scale to match first.' }),
    pause: PauseSchema.optional(),
    analysis: CanaryStepAnalysisSchema.optional().meta({
      description:
        'Measure the canary, or judge it against a baseline; go on when it succeeds, roll back when it fails.',
    }),
    setHeaderRoute: SetHeaderRouteSchema.optional(),
    setMirrorRoute: SetMirrorRouteSchema.optional(),
    setCanaryScale: SetCanaryScaleSchema.optional(),
  }),
  ['setWeight', 'pause', 'analysis', 'setHeaderRoute', 'setMirrorRoute', 'setCanaryScale'],
).meta({
  description:
    'One step of a canary: exactly one of setWeight, pause, analysis, setHeaderRoute, setMirrorRoute or ' +
    'setCanaryScale.',
});

export const GatewayApiRoutingSchema = exactlyOneOf(
  z.object({
    httpRoute: z
      .string()
      .optional()
      .meta({ description: 'Name of the HTTPRoute, in the Rollout namespace, whose weights Siirto sets.' }),
    httpRoutes: z
      .array(
        z.object({
          name: z.string().meta({ description: 'Name of an HTTPRoute in the Rollout namespace.' }),
        }),
      )
      .min(1)
      .max(16)
      .optional()
      .meta({ description: 'Several HTTPRoutes, all set to the same weights.' }),
  }),
  ['httpRoute', 'httpRoutes'],
).meta({ description: 'Route traffic with Gateway API HTTPRoutes (gateway.networking.k8s.io/v1).' });

/** ingress-nginx's default prefix of the annotations it reads. */
export const DEFAULT_NGINX_ANNOTATION_PREFIX = 'nginx.ingress.kubernetes.io';

/** An Ingress name, as the apiserver takes it: a DNS subdomain. */
const IngressNameSchema = z
  .string()
  .max(253)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/, {
    message: 'write the name of an Ingress in the Rollout namespace (lower case letters, digits, - and .)',
  });

export const NginxRoutingSchema = exactlyOneOf(
  z.object({
    stableIngress: IngressNameSchema.optional().meta({
      description:
        'Name of the Ingress, in the Rollout namespace, that sends to the stable Service. Siirto never ' +
        'changes it: it keeps a canary Ingress beside it, a copy sending to the canary Service.',
    }),
    stableIngresses: z.array(IngressNameSchema).min(1).max(16).optional().meta({
      description: 'Several stable Ingresses, each with a canary Ingress of its own at the same weight.',
    }),
    annotationPrefix: z
      .string()
      .max(253)
      .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/, {
        message: 'write a DNS subdomain such as nginx.ingress.kubernetes.io, without a slash',
      })
      .optional()
      .meta({
        description: `Prefix of the canary annotations, as the controller's --annotations-prefix; ${DEFAULT_NGINX_ANNOTATION_PREFIX} unless set.`,
      }),
    additionalIngressAnnotations: z
      .record(z.string(), z.string())
      .optional()
      .meta({
        maxProperties: 16,
        description:
          'More canary annotations for every canary Ingress, named without the prefix, such as ' +
          '{canary-by-cookie: beta}.',
      }),
  }),
  ['stableIngress', 'stableIngresses'],
).meta({
  description:
    'Route traffic with ingress-nginx canary Ingresses: a canary Ingress per stable Ingress, carrying the ' +
    'weight in its canary-weight annotation.',
});

/** Adds a rule that at least one of `fields` is set, both for zod and, as CEL, for the apiserver. */
function atLeastOneOf<Shape extends z.ZodRawShape>(
  schema: z.ZodObject<Shape>,
  fields: (keyof Shape & string)[],
) {
  const message = `set at least one of ${fields.join(', ')}`;
  return schema
    .superRefine((value, context) => {
      const set = fields.filter((field) => (value as Record<string, unknown>)[field] !== undefined);
      if (set.length === 0) context.addIssue({ code: 'custom', message, path: [] });
    })
    .meta({
      'x-kubernetes-validations': [
        { rule: fields.map((field) => `has(self.${field})`).join(' || '), message },
      ],
    });
}

export const TrafficRoutingSchema = atLeastOneOf(
  z.object({
    gatewayAPI: GatewayApiRoutingSchema.optional(),
    nginx: NginxRoutingSchema.optional(),
  }),
  ['gatewayAPI', 'nginx'],
).meta({
  description:
    'How traffic is split between the stable and canary Services: Gateway API HTTPRoutes, ingress-nginx ' +
    'canary Ingresses, or both, moved together.',
});

/** A count of pods, or a percentage of spec.replicas as a string such as "25%", as Deployments take it. */
export const IntOrPercentSchema = z
  .union([
    z.number().int().min(0),
    z
      .string()
      .regex(/^(100|[1-9]?[0-9])%$/, { message: 'write a whole percentage such as "25%", or a number' }),
  ])
  .meta({ 'x-kubernetes-int-or-string': true });

export const CanaryStrategySchema = z
  .object({
    stableService: z.string().min(1).optional().meta({
      description:
        'Service that selects the stable pods; Siirto points its selector at them. Required with trafficRouting.',
    }),
    canaryService: z.string().min(1).optional().meta({
      description:
        'Service that selects the canary pods; Siirto points its selector at them. Required with trafficRouting.',
    }),
    trafficRouting: TrafficRoutingSchema.optional().meta({
      description:
        'How traffic is split between the stable and canary Services. Leave out for a basic canary: ' +
        "setWeight then sizes the canary and stable pods, and the app's own Service, which selects both, " +
        'spreads the traffic over the Ready pods.',
    }),
    maxSurge: IntOrPercentSchema.optional().meta({
      description:
        'Without trafficRouting: pods the canary and stable together may have above spec.replicas while ' +
        'setWeight moves them, a number or a percentage ("25%", rounded up). 25% unless set.',
    }),
    maxUnavailable: IntOrPercentSchema.optional().meta({
      description:
        'Without trafficRouting: pods below spec.replicas the canary and stable together may have Ready ' +
        'while setWeight moves them, a number or a percentage ("25%", rounded down). 25% unless set.',
    }),
    steps: z
      .array(CanaryStepSchema)
      .max(100)
      .default([])
      .meta({ description: 'The steps, in order. With none, the new revision is promoted at once.' }),
    analysis: BackgroundAnalysisSchema.optional().meta({
      description: 'Measure the canary beside the steps, from startingStep until it is promoted.',
    }),
    webhooks: WebhooksSchema.optional(),
    scaleDownDelaySeconds: z
      .number()
      .int()
      .min(0)
      .default(30)
      .meta({ description: 'Seconds the old stable ReplicaSet keeps its pods after promotion.' }),
    abortScaleDownDelaySeconds: z
      .number()
      .int()
      .min(0)
      .default(30)
      .meta({
        description:
          'Seconds the canary keeps its pods after an abort or a newer revision moves the traffic away from ' +
          'them, for requests a gateway still sends while it applies the new weights; 0 keeps them until a ' +
          'retry or a newer revision.',
      }),
  })
  .meta({ description: 'Shift traffic to the new revision step by step.' });

export const PodMetadataSchema = z
  .object({
    labels: z.record(z.string(), z.string()).optional(),
    annotations: z.record(z.string(), z.string()).optional(),
  })
  .meta({ description: 'Labels and annotations Siirto puts on pods, and takes off again.' });

export const BlueGreenStrategySchema = z
  .object({
    activeService: z.string().min(1).meta({
      description:
        'Service that takes the production traffic; Siirto points its selector at the active pods.',
    }),
    previewService: z.string().min(1).optional().meta({
      description:
        'Service that selects the new revision before it is promoted, for tests and people to try it.',
    }),
    autoPromotionEnabled: z.boolean().default(true).meta({
      description: 'Promote the new revision on its own once it is ready; false waits for a promote.',
    }),
    autoPromotionSeconds: z
      .number()
      .int()
      .min(0)
      .optional()
      .meta({
        description:
          'Seconds the ready new revision waits as preview before it is promoted on its own (a promote ' +
          'cuts it short); only with autoPromotionEnabled left true.',
      }),
    previewReplicaCount: z
      .number()
      .int()
      .min(1)
      .optional()
      .meta({
        description:
          'Pods the new revision runs while it is preview (at most spec.replicas); it scales to full size ' +
          'just before it becomes active. Leave out to preview at full size.',
      }),
    prePromotionAnalysis: RolloutAnalysisSchema.optional().meta({
      description:
        'Measure the new revision while it is preview; a failure aborts, the active pods untouched.',
    }),
    postPromotionAnalysis: RolloutAnalysisSchema.optional().meta({
      description:
        'Measure the new revision once it is active; a failure switches the active Service back to the ' +
        'previous revision, whose pods are kept until the analysis succeeds.',
    }),
    scaleDownDelaySeconds: z.number().int().min(0).default(30).meta({
      description: 'Seconds the previous active ReplicaSet keeps its pods after the switch.',
    }),
    abortScaleDownDelaySeconds: z.number().int().min(0).default(30).meta({
      description:
        'Seconds the new revision keeps its pods after an abort; 0 keeps them until a retry or a newer revision.',
    }),
    previewMetadata: PodMetadataSchema.optional().meta({
      description: 'Labels and annotations on the new pods while they are preview.',
    }),
    activeMetadata: PodMetadataSchema.optional().meta({
      description: 'Labels and annotations on the pods while they are active.',
    }),
    trafficRouting: TrafficRoutingSchema.optional().meta({
      description:
        'Switch with HTTPRoute weights between the active and preview Services (both backendRefs of the ' +
        'route) as well as the active Service selector; leave out to switch with the selector alone.',
    }),
    webhooks: BlueGreenWebhooksSchema.optional(),
  })
  .meta({
    description: 'Run the new revision beside the active one, then switch all traffic to it at once.',
  });

/** A header value for variant B: exactly one of exact or regex (Gateway API matches no prefix of a header). */
export const VariantHeaderValueSchema = exactlyOneOf(
  z.object({
    exact: z.string().min(1).max(1024).optional().meta({ description: 'The value, exactly.' }),
    regex: z
      .string()
      .min(1)
      .max(1024)
      .optional()
      .meta({ description: 'A regular expression the value matches (RE2).' }),
  }),
  ['exact', 'regex'],
).meta({ description: 'How to match the value: exactly one of exact or regex.' });

/** A cookie name as RFC 6265 has it: a token. */
const CookieNameSchema = z
  .string()
  .min(1)
  .max(256)
  .regex(/^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$/, {
    message: 'write a cookie name, such as variant, without spaces, =, ; or quotes',
  });

export const VariantMatchSchema = exactlyOneOf(
  z.object({
    header: z
      .object({
        name: HeaderNameSchema.meta({ description: 'The request header, such as X-Variant.' }),
        value: VariantHeaderValueSchema,
      })
      .optional()
      .meta({ description: 'Requests carrying this header go to variant B.' }),
    cookie: z
      .object({
        name: CookieNameSchema.meta({ description: 'The cookie, such as variant.' }),
        value: z
          .string()
          .min(1)
          .max(1024)
          .regex(/^[^;,\s"\\]+$/, {
            message: 'write a cookie value without spaces, commas, semicolons, quotes or backslashes',
          })
          .meta({ description: 'Its value, exactly.' }),
      })
      .optional()
      .meta({
        description:
          'Requests carrying this cookie go to variant B (a regular expression on the Cookie header, as Gateway API matches cookies).',
      }),
  }),
  ['header', 'cookie'],
).meta({
  description: 'Which requests go to variant B whatever the weights: exactly one of header or cookie.',
});

/** Counts per variant: PromQL with placeholders Siirto fills for each variant, escaped. */
const countQuery = (description: string) =>
  z
    .string()
    .min(1)
    .max(4096)
    .optional()
    .meta({
      description:
        `${description} PromQL returning one number: the count since the experiment began. ` +
        '`{{args.variant-hash}}` is the variant’s pod-template hash, `{{args.variant}}` A or B, ' +
        '`{{args.namespace}}` and `{{args.rollout}}` the Rollout’s, `{{args.elapsed}}` the time since the ' +
        'experiment began as a PromQL range (such as 95s), for increase().',
    });

export const ErrorRateGuardrailSchema = z
  .object({
    maxIncrease: z
      .number()
      .min(0)
      .max(1)
      .meta({
        description:
          'How much higher B’s error rate may be than A’s, as a fraction (0.01 is one point): B is stopped ' +
          'as soon as the confidence sequence says it is worse than A by more than this.',
      }),
    errorsQuery: countQuery('Failed requests of the variant; 5xx answers of http_requests_total unless set.'),
    requestsQuery: countQuery('All requests of the variant; http_requests_total unless set.'),
  })
  .meta({
    description: 'Stop variant B at once when its error rate is worse than A’s by more than maxIncrease.',
  });

export const LatencyGuardrailSchema = z
  .object({
    thresholdSeconds: z
      .number()
      .positive()
      .meta({
        description:
          'A request slower than this is slow; one of the bounds (`le`) of the request-duration ' +
          'histogram’s buckets, such as 0.5.',
      }),
    maxIncrease: z
      .number()
      .min(0)
      .max(1)
      .meta({
        description:
          'How much higher B’s share of slow requests may be than A’s, as a fraction (0.05 is five points): ' +
          'B is stopped as soon as the confidence sequence says it is worse than A by more than this.',
      }),
    withinThresholdQuery: countQuery(
      'Requests of the variant answered within thresholdSeconds; the bucket ' +
        '`le="{{args.threshold}}"` of http_request_duration_seconds unless set. `{{args.threshold}}` is ' +
        'thresholdSeconds as a number (0.5).',
    ),
    requestsQuery: countQuery(
      'All requests of the variant the histogram observed; http_request_duration_seconds_count unless set.',
    ),
  })
  .meta({
    description:
      'Stop variant B at once when its share of requests slower than thresholdSeconds is higher than A’s ' +
      'by more than maxIncrease.',
  });

export const AbTestingAnalysisSchema = z
  .object({
    interval: z
      .string()
      .default('30s')
      .meta({ description: 'Time between looks at the counts, such as 10s or 1m.' }),
    minDuration: z.string().default('0s').meta({
      description: 'No verdict before the experiment has run this long, such as 1h (guardrails act at once).',
    }),
    minSampleSize: z
      .number()
      .int()
      .min(1)
      .default(100)
      .meta({ description: 'No verdict before each variant has this many trials.' }),
    confidenceLevel: z
      .number()
      .gt(0)
      .lt(1)
      .default(0.95)
      .meta({ description: 'Confidence of the interval over every look together, such as 0.95.' }),
    successQuery: countQuery(
      'Successes of the variant; its non-5xx answers of http_requests_total unless set.',
    ),
    trialsQuery: countQuery('Trials of the variant; its answers of http_requests_total unless set.'),
    guardrails: z
      .object({ errorRate: ErrorRateGuardrailSchema.optional(), latency: LatencyGuardrailSchema.optional() })
      .optional()
      .meta({ description: 'Limits B must keep while the experiment runs; a breach stops it at once.' }),
  })
  .meta({
    description:
      'How the experiment is judged: the success rate of each variant (successes over trials), compared ' +
      'with an anytime-valid confidence sequence, so looking at every interval does not inflate errors.',
  });

export const AbTestingStrategySchema = z
  .object({
    variantAService: z.string().min(1).meta({
      description: 'Service for variant A, the stable revision; Siirto points its selector at its pods.',
    }),
    variantBService: z.string().min(1).meta({
      description: 'Service for variant B, the new revision; Siirto points its selector at its pods.',
    }),
    variantBMatch: VariantMatchSchema,
    variantBWeight: z.number().int().min(0).max(100).default(0).meta({
      description: 'Percentage of the other requests (those not matched) that go to B; 0 unless set.',
    }),
    trafficRouting: TrafficRoutingSchema.meta({
      description:
        'The route between the two Services: gatewayAPI (both Services backendRefs of the route); ' +
        'ingress-nginx cannot carry the experiment.',
    }),
    maxDuration: z.string().default('1h').meta({
      description: 'Longest the experiment runs; without a verdict by then, B is removed: no difference.',
    }),
    analysis: AbTestingAnalysisSchema,
    scaleDownDelaySeconds: z
      .number()
      .int()
      .min(0)
      .default(30)
      .meta({ description: 'Seconds A’s pods are kept after B wins and takes all traffic.' }),
    abortScaleDownDelaySeconds: z
      .number()
      .int()
      .min(0)
      .default(30)
      .meta({ description: 'Seconds B’s pods are kept after it loses or is stopped and traffic leaves it.' }),
  })
  .meta({
    description:
      'Run the new revision (B) beside the stable one (A) at full size, send matched requests to B, and ' +
      'promote B only if it is better than A with the confidence asked for.',
  });

/**
 * Every strategy a Rollout may name, by its key under spec.strategy, of which exactly one is set. A new
 * strategy adds its line here, and its entry in workflows/strategies/registry.ts.
 */
const STRATEGY_SPECS = {
  canary: CanaryStrategySchema.optional(),
  blueGreen: BlueGreenStrategySchema.optional(),
  abTesting: AbTestingStrategySchema.optional(),
};
export type StrategyName = keyof typeof STRATEGY_SPECS;
export const STRATEGY_NAMES = Object.keys(STRATEGY_SPECS) as StrategyName[];

export const StrategySchema = exactlyOneOf(z.object(STRATEGY_SPECS), STRATEGY_NAMES).meta({
  description: 'How a new revision replaces the stable one: canary, blueGreen or abTesting.',
});

export const RolloutSpecSchema = z.object({
  replicas: z
    .number()
    .int()
    .min(0)
    .default(1)
    .meta({ description: 'Number of pods of the stable revision.' }),
  selector: LabelSelectorSchema,
  template: PodTemplateSchema,
  revisionHistoryLimit: z
    .number()
    .int()
    .min(0)
    .default(10)
    .meta({ description: 'Old ReplicaSets (scaled to zero) to keep for rollbacks.' }),
  progressDeadlineSeconds: z
    .number()
    .int()
    .min(1)
    .default(600)
    .meta({ description: 'Seconds a step may wait for its pods to become Ready before the rollout aborts.' }),
  strategy: StrategySchema,
});

export const ROLLOUT_PHASES = ['Pending', 'Progressing', 'Paused', 'Healthy', 'Degraded', 'Invalid'] as const;
export const RolloutPhaseSchema = z.enum(ROLLOUT_PHASES);

export const TrafficWeightsSchema = z.object({
  stable: z.number().int(),
  canary: z.number().int(),
});

export const RolloutConditionSchema = z.object({
  type: z.string(),
  status: z.enum(['True', 'False', 'Unknown']),
  reason: z.string().optional(),
  message: z.string().optional(),
  lastTransitionTime: z.string().optional(),
});

const VariantCountsSchema = z.object({
  successes: z.number().int().meta({ description: 'Successes counted so far.' }),
  trials: z.number().int().meta({ description: 'Trials counted so far.' }),
});

export const ExperimentStatusSchema = z
  .object({
    variantA: VariantCountsSchema.optional(),
    variantB: VariantCountsSchema.optional(),
    estimate: z.number().optional().meta({ description: 'B’s success rate minus A’s, as measured so far.' }),
    lower: z
      .number()
      .optional()
      .meta({ description: 'Lower end of the confidence sequence for the difference.' }),
    upper: z
      .number()
      .optional()
      .meta({ description: 'Upper end of the confidence sequence for the difference.' }),
    confidenceLevel: z.number().optional(),
    looks: z.number().int().optional().meta({ description: 'Looks at the counts so far.' }),
    verdict: z
      .string()
      .optional()
      .meta({ description: 'undecided, B wins, A wins, no difference, or guardrail (B stopped).' }),
    guardrail: z
      .enum(['errorRate', 'latency'])
      .optional()
      .meta({ description: 'The guardrail that stopped B, when one did: errorRate or latency.' }),
  })
  .meta({ description: 'An A/B experiment: the counts, the estimate and its interval, and the verdict.' });

export const RolloutStatusSchema = z.object({
  phase: RolloutPhaseSchema.optional().meta({
    description: 'Pending, Progressing, Paused, Healthy, Degraded or Invalid.',
  }),
  message: z.string().optional().meta({ description: 'Why the Rollout is in its phase.' }),
  observedGeneration: z.number().int().optional(),
  revision: z.number().int().optional().meta({ description: 'Revision number of the current pod template.' }),
  currentTemplateHash: z
    .string()
    .optional()
    .meta({ description: 'Pod-template hash of the current revision.' }),
  stableTemplateHash: z
    .string()
    .optional()
    .meta({ description: 'Pod-template hash of the stable revision.' }),
  currentStepIndex: z.number().int().optional().meta({ description: 'Index of the step being run.' }),
  stepCount: z.number().int().optional(),
  step: z
    .string()
    .optional()
    .meta({ description: 'The step being run as people count, such as 2/5; 5/5 once all have run.' }),
  weights: TrafficWeightsSchema.optional().meta({
    description: 'Traffic percentages now set on the routes.',
  }),
  workflowId: z.string().optional().meta({ description: 'Temporal workflow running the current revision.' }),
  replicas: z.number().int().optional().meta({
    description:
      'The spec.replicas Siirto has sized the Rollout to: its scale subresource, as kubectl scale and a HorizontalPodAutoscaler read it.',
  }),
  selector: z.string().optional().meta({
    description:
      "spec.selector as a label query (app=checkout), for a HorizontalPodAutoscaler to find the Rollout's pods.",
  }),
  analysis: AnalysisStatusSchema.optional(),
  blueGreen: z
    .object({
      activeSelector: z.string().optional().meta({
        description: 'Pod-template hash the active Service selects.',
      }),
      previewSelector: z.string().optional().meta({
        description: 'Pod-template hash the preview Service selects.',
      }),
    })
    .optional()
    .meta({ description: 'Which revision each Service of a blue-green Rollout selects.' }),
  experiment: ExperimentStatusSchema.optional(),
  conditions: z.array(RolloutConditionSchema).optional(),
});

export const RolloutMetadataSchema = z.object({
  name: z.string(),
  namespace: z.string(),
  uid: z.string().optional(),
  generation: z.number().int().optional(),
  resourceVersion: z.string().optional(),
  labels: z.record(z.string(), z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  deletionTimestamp: z.union([z.string(), z.date()]).optional(),
});

export const RolloutSchema = z.object({
  apiVersion: z.literal('siirto.dev/v1alpha1'),
  kind: z.literal('Rollout'),
  metadata: RolloutMetadataSchema,
  spec: RolloutSpecSchema,
  status: RolloutStatusSchema.optional(),
});

export type LabelSelector = z.infer<typeof LabelSelectorSchema>;
export type PodTemplate = z.infer<typeof PodTemplateSchema>;
export type CanaryStep = z.infer<typeof CanaryStepSchema>;
export type StringMatch = z.infer<typeof StringMatchSchema>;
export type SetHeaderRoute = z.infer<typeof SetHeaderRouteSchema>;
export type SetMirrorRoute = z.infer<typeof SetMirrorRouteSchema>;
export type SetCanaryScale = z.infer<typeof SetCanaryScaleSchema>;
export type CanaryStrategy = z.infer<typeof CanaryStrategySchema>;
export type BlueGreenStrategy = z.infer<typeof BlueGreenStrategySchema>;
export type AbTestingStrategy = z.infer<typeof AbTestingStrategySchema>;
export type AbTestingAnalysis = z.infer<typeof AbTestingAnalysisSchema>;
export type VariantMatch = z.infer<typeof VariantMatchSchema>;
export type PodMetadata = z.infer<typeof PodMetadataSchema>;
export type Strategy = z.infer<typeof StrategySchema>;
export type TrafficRouting = z.infer<typeof TrafficRoutingSchema>;
export type NginxRouting = z.infer<typeof NginxRoutingSchema>;
export type IntOrPercent = z.infer<typeof IntOrPercentSchema>;
export type RolloutSpec = z.infer<typeof RolloutSpecSchema>;
export type RolloutPhase = z.infer<typeof RolloutPhaseSchema>;
export type TrafficWeights = z.infer<typeof TrafficWeightsSchema>;
export type RolloutCondition = z.infer<typeof RolloutConditionSchema>;
export type RolloutStatus = z.infer<typeof RolloutStatusSchema>;
export type ExperimentStatus = z.infer<typeof ExperimentStatusSchema>;
export type Rollout = z.infer<typeof RolloutSchema>;

export const ROLLOUT_GROUP = 'siirto.dev';
export const ROLLOUT_VERSION = 'v1alpha1';
export const ROLLOUT_PLURAL = 'rollouts';
/**
 * `kubectl get sro`. Not `ro`: Argo Rollouts' `rollouts.argoproj.io` has that short name and the same
 * plural, so beside it `kubectl get ro` and `kubectl get rollout` mean Argo's resource.
 */
export const ROLLOUT_SHORT_NAME = 'sro';

/** The step being run, counted from 1 as people count: `2/5`, and `5/5` once every step has run. */
export function stepOfSteps(currentStepIndex: number, stepCount: number): string {
  return `${Math.min(currentStepIndex + 1, stepCount)}/${stepCount}`;
}
