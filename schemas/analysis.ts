import { z } from 'zod';
import { parseDuration } from './duration';

/**
 * Analysis: how Siirto judges a canary from Prometheus. A metric is a PromQL query measured every
 * `interval`, each result judged by its success and failure conditions. Metrics live in reusable
 * `AnalysisTemplate` (namespaced) and `ClusterAnalysisTemplate` resources that a Rollout references
 * with arguments, or come built in (`errorRate`, `latencyP95`) for teams that only want thresholds.
 *
 * Conditions are checked by analysis/condition.ts when a Rollout or template is validated; durations by
 * schemas/duration.ts. Both are strings here so the apiserver stores what the user wrote.
 */

export const ANALYSIS_TEMPLATE_PLURAL = 'analysistemplates';
export const CLUSTER_ANALYSIS_TEMPLATE_PLURAL = 'clusteranalysistemplates';

const duration = (description: string) => z.string().meta({ description });

/** What every metric shares, built-in or from a template: how often, how many, and how forgiving. */
const MeasurementPolicyShape = {
  interval: duration('Time between measurements, such as 30s or 1m.').default('30s'),
  count: z
    .number()
    .int()
    .min(1)
    .optional()
    .meta({
      description:
        'Measurements to take. In a step analysis it defaults to 1; in a background analysis, leaving it ' +
        'out measures until the rollout completes.',
    }),
  initialDelay: duration('Wait this long before the first measurement, such as 1m.').optional(),
  failureLimit: z
    .number()
    .int()
    .min(0)
    .default(0)
    .meta({ description: 'Failed measurements tolerated; one more fails the analysis and rolls back.' }),
  inconclusiveLimit: z
    .number()
    .int()
    .min(0)
    .default(0)
    .meta({
      description:
        'Inconclusive measurements (empty result, NaN, neither condition met) tolerated; one more pauses ' +
        'the rollout for a human to promote or abort.',
    }),
  consecutiveErrorLimit: z
    .number()
    .int()
    .min(0)
    .default(4)
    .meta({
      description:
        'Measurements in a row that could not be taken (Prometheus unreachable or erroring) tolerated; ' +
        'one more counts as inconclusive.',
    }),
};

export const PrometheusProviderSchema = z
  .object({
    address: z.string().optional().meta({
      description:
        "Prometheus base URL; defaults to the worker's SIIRTO_PROMETHEUS_URL. Any other must be listed in the worker's SIIRTO_PROMETHEUS_ALLOWED_ADDRESSES.",
    }),
    query: z.string().min(1).meta({
      description:
        'PromQL returning one number (a scalar or a single series). `{{args.NAME}}` is replaced by the argument NAME, escaped for the quotes around it; outside quotes only a number or a duration is accepted.',
    }),
  })
  .meta({ description: 'Measure with a Prometheus instant query.' });

export const MetricSchema = z
  .object({
    name: z
      .string()
      .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'use lowercase letters, digits and dashes')
      .max(63)
      .meta({ description: 'Name of the metric, unique in its analysis.' }),
    provider: z.object({ prometheus: PrometheusProviderSchema }),
    successCondition: z.string().optional().meta({
      description: 'Expression over `result` that must hold for success, such as `result < 0.05`.',
    }),
    failureCondition: z.string().optional().meta({
      description: 'Expression over `result` that marks a failure, such as `result >= 0.1`.',
    }),
    ...MeasurementPolicyShape,
  })
  .superRefine((metric, context) => {
    if (metric.successCondition === undefined && metric.failureCondition === undefined) {
      context.addIssue({
        code: 'custom',
        message: 'set successCondition, failureCondition or both',
        path: [],
      });
    }
  });

export const AnalysisArgumentSchema = z.object({
  name: z.string().min(1),
  value: z.string().optional().meta({ description: 'Default value; a Rollout may pass its own.' }),
});

export const AnalysisTemplateSpecSchema = z.object({
  args: z
    .array(AnalysisArgumentSchema)
    .max(32)
    .default([])
    .meta({
      description:
        'Arguments the queries use as `{{args.NAME}}`. Always provided: namespace, rollout, canary-hash, ' +
        'stable-hash, canary-service, stable-service.',
    }),
  metrics: z.array(MetricSchema).min(1).max(20),
});

export const AnalysisTemplateSchema = z.object({
  apiVersion: z.literal('siirto.dev/v1alpha1'),
  kind: z.enum(['AnalysisTemplate', 'ClusterAnalysisTemplate']),
  metadata: z.object({ name: z.string(), namespace: z.string().optional() }),
  spec: AnalysisTemplateSpecSchema,
});

export const TemplateReferenceSchema = z.object({
  templateName: z
    .string()
    .min(1)
    .meta({ description: 'Name of an AnalysisTemplate in the Rollout namespace.' }),
  clusterScope: z
    .boolean()
    .default(false)
    .meta({ description: 'Use the ClusterAnalysisTemplate of this name instead.' }),
});

export const BuiltInMetricsSchema = z
  .object({
    errorRate: z
      .object({
        max: z.number().min(0).max(1).meta({ description: 'Highest tolerated share of 5xx responses, 0-1.' }),
      })
      .optional(),
    latencyP95: z
      .object({
        maxSeconds: z.number().positive().meta({ description: 'Highest tolerated 95th percentile latency.' }),
      })
      .optional(),
    window: duration('Range the rates are computed over, such as 30s or 1m.').default('1m'),
    selector: z
      .string()
      .default('namespace="{{args.namespace}}",siirto_dev_pod_template_hash="{{args.canary-hash}}"')
      .meta({
        description:
          'PromQL label matchers picking the canary series of http_requests_total and http_request_duration_seconds. The default matches pods discovered by Prometheus with the pod labels mapped to series labels (labelmap __meta_kubernetes_pod_label_(.+)) and the namespace as namespace: the pod label siirto.dev/pod-template-hash becomes siirto_dev_pod_template_hash.',
      }),
    ...MeasurementPolicyShape,
  })
  .meta({
    description:
      'Thresholds on the canary’s http_requests_total (error rate) and http_request_duration_seconds (p95).',
  });

const AnalysisReferenceShape = {
  templates: z.array(TemplateReferenceSchema).max(8).default([]),
  args: z
    .array(z.object({ name: z.string().min(1), value: z.string() }))
    .max(32)
    .default([])
    .meta({ description: 'Values for the templates’ arguments.' }),
  builtIn: BuiltInMetricsSchema.optional(),
};

function requireSomeMetric(
  analysis: { templates: unknown[]; builtIn?: BuiltInMetrics },
  context: z.RefinementCtx,
): void {
  const builtIns = analysis.builtIn && (analysis.builtIn.errorRate || analysis.builtIn.latencyP95);
  if (analysis.templates.length === 0 && !builtIns) {
    context.addIssue({
      code: 'custom',
      message: 'name at least one template, or a builtIn errorRate or latencyP95 threshold',
      path: [],
    });
  }
}

/** Where a judged metric's query takes the pod matcher of baseline or canary: `{{selector}}`. */
export const JUDGE_SELECTOR_PLACEHOLDER = /\{\{\s*selector\s*\}\}/;

export const JudgeMetricSchema = z
  .object({
    name: z
      .string()
      .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'use lowercase letters, digits and dashes')
      .max(63)
      .meta({ description: 'Name of the metric, unique in the judge.' }),
    query: z
      .string()
      .min(1)
      .meta({
        description:
          'PromQL giving one series per pod, such as `sum by (pod) (rate(http_requests_total{ {{selector}} }[{{range}}]))`. ' +
          'Siirto writes the label matchers of the baseline’s pods, then of the canary’s, for `{{selector}}` ' +
          '(required) and the query’s resolution for `{{range}}`; every value of every series over the interval is a sample.',
      }),
    direction: z.enum(['increase', 'decrease', 'either']).default('increase').meta({
      description:
        'Which change counts against the canary: increase (latency, errors), decrease (throughput) or either.',
    }),
    critical: z
      .boolean()
      .default(false)
      .meta({ description: 'A failure of this metric fails the whole judgement: the score is 0.' }),
    weight: z
      .number()
      .positive()
      .default(1)
      .meta({ description: 'Its share of the score against the other metrics’ weights.' }),
    tolerance: z.number().min(0).optional().meta({
      description: 'Kayenta’s tolerance band for this metric; the judge’s tolerance unless set.',
    }),
    allowedIncrease: z.number().min(1).optional().meta({
      description:
        'Ratio of means canary/baseline a clear rise must reach to be High: 1.1 lets the canary be 10 % higher and pass. Default 1: any clear rise.',
    }),
    allowedDecrease: z.number().gt(0).max(1).optional().meta({
      description:
        'Ratio of means a clear fall must be at or below to be Low: 0.9 lets it be 10 % lower. Default 1.',
    }),
    criticalIncrease: z.number().min(1).optional().meta({
      description:
        'For a critical metric: the ratio at which a failed rise fails the whole judgement. Default 1.',
    }),
    criticalDecrease: z.number().gt(0).max(1).optional().meta({
      description:
        'For a critical metric: the ratio at which a failed fall fails the whole judgement. Default 1.',
    }),
    mustHaveData: z.boolean().optional().meta({
      description: 'A metric without data counts as failed instead of being left out of the score.',
    }),
    outliers: z.enum(['remove', 'keep']).optional().meta({
      description:
        'Remove values beyond 3 interquartile ranges of the quartiles (the default), or keep them.',
    }),
    nanStrategy: z
      .enum(['remove', 'replace'])
      .default('remove')
      .meta({ description: 'NaN values: remove them, or replace them by 0 (a rate that did not move).' }),
  })
  .superRefine((metric, context) => {
    if (!JUDGE_SELECTOR_PLACEHOLDER.test(metric.query)) {
      context.addIssue({
        code: 'custom',
        path: ['query'],
        message:
          'has no {{selector}}: write it inside the braces of each series the query reads, such as ' +
          'http_request_duration_seconds_count{ {{selector}} }, so Siirto can scope the query to the baseline’s and the canary’s pods',
      });
    }
  });

export const CanaryJudgeSchema = z
  .object({
    interval: duration('Time each judgement covers and between judgements, such as 30s or 1m.').default(
      '30s',
    ),
    count: z
      .number()
      .int()
      .min(1)
      .max(100)
      .default(1)
      .meta({ description: 'Judgements to make; each must pass, the last decides.' }),
    step: duration(
      'Resolution of the range query over each interval: one sample per series every step, such as 5s.',
    ).default('5s'),
    confidenceLevel: z
      .number()
      .gt(0.5)
      .lt(1)
      .default(0.98)
      .meta({ description: 'Confidence level of the Mann-Whitney test and its Hodges-Lehmann interval.' }),
    tolerance: z.number().min(0).default(0.25).meta({
      description:
        'Kayenta’s tolerance: a metric is High or Low only when its interval clears a band of ±tolerance × the estimated shift; how large a shift may pass is each metric’s allowedIncrease or allowedDecrease.',
    }),
    thresholds: z
      .object({
        pass: z.number().min(0).max(100).default(95),
        marginal: z.number().min(0).max(100).default(75),
      })
      .default({ pass: 95, marginal: 75 })
      .meta({
        description:
          'A score at or above pass goes on; at or above marginal holds for a person to promote or abort; below it rolls back.',
      }),
    metrics: z.array(JudgeMetricSchema).min(1).max(20),
  })
  .superRefine((judge, context) => {
    for (const field of ['interval', 'step'] as const) {
      const milliseconds = parseDuration(judge[field]);
      if (milliseconds === undefined || milliseconds < 1000) {
        context.addIssue({
          code: 'custom',
          path: [field],
          message: `is ${JSON.stringify(judge[field])}: write a duration of at least 1s, like 30s or 1m`,
        });
      }
    }
    const interval = parseDuration(judge.interval);
    const step = parseDuration(judge.step);
    if (interval !== undefined && step !== undefined && step > interval) {
      context.addIssue({
        code: 'custom',
        path: ['step'],
        message: `is longer than the interval ${judge.interval}: make it a fraction of it, such as a tenth`,
      });
    }
    if (judge.thresholds.marginal > judge.thresholds.pass) {
      context.addIssue({
        code: 'custom',
        path: ['thresholds', 'marginal'],
        message: `is above thresholds.pass (${judge.thresholds.pass}): make it at most pass`,
      });
    }
    const seen = new Set<string>();
    judge.metrics.forEach((metric, index) => {
      if (seen.has(metric.name)) {
        context.addIssue({
          code: 'custom',
          path: ['metrics', index, 'name'],
          message: `"${metric.name}" is used by an earlier metric: give each metric a name of its own`,
        });
      }
      seen.add(metric.name);
    });
  })
  .meta({
    description:
      'Judge the canary against a baseline, as Kayenta does: Siirto starts as many pods of the stable revision ' +
      'as the canary has, labelled siirto.dev/role=baseline, compares each metric’s values of the two with a ' +
      'Mann-Whitney test, and scores the canary from 0 to 100.',
  });

/**
 * A judge compares the canary with a baseline on the same share of live traffic: only a canary's
 * steps give it that, in an analysis step or in the background analysis beside them. Where else a Rollout carries an analysis the
 * schema still takes a `judge`, so that the apiserver keeps it rather than pruning it away unseen, and
 * refuses it with where to put it instead.
 */
function refuseJudge(why: string) {
  return (analysis: { judge?: unknown }, context: z.RefinementCtx): boolean => {
    if (analysis.judge === undefined) return false;
    context.addIssue({ code: 'custom', path: ['judge'], message: why });
    return true;
  };
}

const refusedJudge = (why: string) =>
  CanaryJudgeSchema.optional().meta({ description: `Not available here: ${why}` });

const BLUE_GREEN_JUDGE =
  'a judge compares the new revision with a baseline of the old one on the same share of live traffic, ' +
  'and a blue-green Rollout never splits live traffic between them (the preview gets none before the ' +
  'switch, the active all of it after); judge the new revision by thresholds here (templates or builtIn), ' +
  'or use a canary strategy with the judge in an analysis step (spec.strategy.canary.steps[N].analysis.judge)';

export const RolloutAnalysisSchema = z
  .object({ ...AnalysisReferenceShape, judge: refusedJudge(BLUE_GREEN_JUDGE) })
  .superRefine((analysis, context) => {
    if (!refuseJudge(BLUE_GREEN_JUDGE)(analysis, context)) requireSomeMetric(analysis, context);
  })
  .meta({ description: 'Metrics to judge the canary by: templates and built-in thresholds.' });

/** An analysis that may judge: some metric without a judge, or the judge on its own. */
function judgeOrMetrics(
  analysis: { templates: unknown[]; builtIn?: BuiltInMetrics; judge?: unknown },
  context: z.RefinementCtx,
): void {
  if (!analysis.judge) return requireSomeMetric(analysis, context);
  if (analysis.templates.length > 0 || analysis.builtIn) {
    context.addIssue({
      code: 'custom',
      path: ['judge'],
      message:
        'is set beside templates or builtIn: a judged analysis runs on its own; move the templates and ' +
        'builtIn to an analysis step of their own',
    });
  }
}

export const BackgroundAnalysisSchema = z
  .object({
    ...AnalysisReferenceShape,
    startingStep: z.number().int().min(0).default(0).meta({
      description:
        'Index of the step from which the analysis runs until the rollout completes; at most the last step’s index.',
    }),
    judge: CanaryJudgeSchema.optional().meta({
      description:
        'Judge the canary against a baseline from startingStep until promotion: every interval, the ' +
        'baseline sized to the canary’s pods again; count is not used here.',
    }),
  })
  .superRefine(judgeOrMetrics)
  .meta({ description: 'Analysis that runs beside the steps, from startingStep to the end.' });

/** A canary step's analysis: templates and built-in thresholds, or a judge against a baseline. */
export const CanaryStepAnalysisSchema = z
  .object({ ...AnalysisReferenceShape, judge: CanaryJudgeSchema.optional() })
  .superRefine(judgeOrMetrics)
  .meta({
    description:
      'Metrics to judge the canary by: templates and built-in thresholds, or a judge against a baseline.',
  });

export type Metric = z.infer<typeof MetricSchema>;
export type AnalysisTemplateSpec = z.infer<typeof AnalysisTemplateSpecSchema>;
export type AnalysisTemplate = z.infer<typeof AnalysisTemplateSchema>;
export type TemplateReference = z.infer<typeof TemplateReferenceSchema>;
export type BuiltInMetrics = z.infer<typeof BuiltInMetricsSchema>;
export type RolloutAnalysis = z.infer<typeof RolloutAnalysisSchema>;
export type CanaryStepAnalysis = z.infer<typeof CanaryStepAnalysisSchema>;
export type CanaryJudge = z.infer<typeof CanaryJudgeSchema>;
export type JudgeMetric = z.infer<typeof JudgeMetricSchema>;
export type BackgroundAnalysis = z.infer<typeof BackgroundAnalysisSchema>;

/** One measurement's verdict. `Error` is a measurement that could not be taken at all. */
export const MEASUREMENT_VERDICTS = ['Successful', 'Failed', 'Inconclusive', 'Error'] as const;
export type MeasurementVerdict = (typeof MEASUREMENT_VERDICTS)[number];

export const MeasurementSchema = z.object({
  verdict: z.enum(MEASUREMENT_VERDICTS),
  /** The number Prometheus returned, as text so NaN and ±Inf survive JSON; absent when there was none. */
  value: z.string().optional(),
  /** Why: the condition that decided, or what went wrong. */
  message: z.string(),
  measuredAt: z.string(),
});
export type Measurement = z.infer<typeof MeasurementSchema>;

export const MetricResultSchema = z.object({
  name: z.string(),
  phase: z.enum(['Running', 'Successful', 'Failed', 'Inconclusive']),
  successful: z.number().int(),
  failed: z.number().int(),
  inconclusive: z.number().int(),
  errors: z.number().int(),
  /** The last few measurements, newest last. */
  measurements: z.array(MeasurementSchema).max(5),
});
export type MetricResult = z.infer<typeof MetricResultSchema>;

/** A judged analysis's latest judgement: the score, the verdict, and each metric's classification. */
export const JudgeStatusSchema = z.object({
  judgement: z.number().int().meta({ description: 'Which judgement this is, from 1.' }),
  count: z.number().int(),
  score: z.number().meta({ description: 'The canary’s score against the baseline, 0 to 100.' }),
  verdict: z.enum(['Successful', 'Inconclusive', 'Failed']),
  baseline: z.string().meta({ description: 'The baseline ReplicaSet the canary was compared with.' }),
  criticalFailure: z.string().optional(),
  metrics: z
    .array(
      z.object({
        name: z.string(),
        classification: z.enum(['Pass', 'High', 'Low', 'NoData']),
        failed: z.boolean(),
        critical: z.boolean(),
        reason: z.string(),
      }),
    )
    .max(20),
});
export type JudgeStatus = z.infer<typeof JudgeStatusSchema>;

export const AnalysisRunStatusSchema = z.object({
  revision: z.number().int().meta({ description: 'Revision the analysis judged.' }),
  stepIndex: z.number().int().optional().meta({ description: 'Step of a step analysis.' }),
  phase: z.enum(['Running', 'Successful', 'Failed', 'Inconclusive', 'Stopped']).meta({
    description:
      'Stopped: its rollout ended it before a verdict (an abort, a promote past it, the steps done).',
  }),
  message: z.string().optional(),
  metrics: z.array(MetricResultSchema).max(40),
  judge: JudgeStatusSchema.optional().meta({ description: 'A judged analysis: its latest judgement.' }),
});
export type AnalysisRunStatus = z.infer<typeof AnalysisRunStatusSchema>;

/** A map, not a list, so the step and background analyses can each merge-patch their own entry. */
export const AnalysisStatusSchema = z
  .object({
    step: AnalysisRunStatusSchema.optional(),
    background: AnalysisRunStatusSchema.optional(),
    prePromotion: AnalysisRunStatusSchema.optional(),
    postPromotion: AnalysisRunStatusSchema.optional(),
  })
  .meta({
    description:
      'The latest analyses (canary: step and background; blue-green: prePromotion and postPromotion), ' +
      'with the last measurements per metric.',
  });
export type AnalysisStatus = z.infer<typeof AnalysisStatusSchema>;
