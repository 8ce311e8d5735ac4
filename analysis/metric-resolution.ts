import type { AnalysisContext } from './resolved-metric';
import type { AnalysisTemplateSpec, Metric, RolloutAnalysis, TemplateReference } from '../schemas/analysis';
import { parseDuration } from '../schemas/duration';
import { AnalysisConfigurationError } from './analysis-configuration-error';
import { builtInMetrics } from './built-in-metrics';
import { ConditionSyntaxError, parseCondition } from './condition';
import {
  createMetricProviders,
  FIRST_PROVIDER_KEY,
  providerOf,
  type MetricLocation,
  type MetricProvider,
} from './metric-providers';
import type { ResolvedMetric } from './resolved-metric';

export { AnalysisConfigurationError } from './analysis-configuration-error';

/** A template as read from the cluster, with how the analysis referred to it. */
export interface FetchedTemplate {
  reference: TemplateReference;
  /** How messages name it: `AnalysisTemplate shop/success-rate`, `ClusterAnalysisTemplate error-budget`. */
  source: string;
  spec: AnalysisTemplateSpec;
}

export interface MetricResolutionInput {
  templates: readonly FetchedTemplate[];
  analysis: RolloutAnalysis;
  context: AnalysisContext;
  /** A step analysis measures once unless told otherwise; a background one until it is stopped. */
  mode: 'step' | 'background';
  /** Where the analysis sits in the Rollout, for messages: `spec.strategy.canary.steps[2].analysis`. */
  field?: string;
  /**
   * The metric providers, bound to the settings of the worker that will measure (the Prometheus
   * addresses it may query, for one). Left out where those are not known (the bridge): providers
   * without settings check what they can without them.
   */
  providers?: readonly MetricProvider[];
}

/** The arguments Siirto fills in itself, by the name queries use for them. */
function contextArguments(context: AnalysisContext): Map<string, string> {
  return new Map([
    ['namespace', context.namespace],
    ['rollout', context.rollout],
    ['canary-hash', context.canaryHash],
    ['stable-hash', context.stableHash],
    ['canary-service', context.canaryService],
    ['stable-service', context.stableService],
  ]);
}

/** Metrics shorter than this would query Prometheus in a busy loop. */
const SHORTEST_INTERVAL_MILLISECONDS = 1_000;

/**
 * Turns an analysis and the templates it references into metrics ready to measure: arguments
 * substituted (the context's, then the Rollout's over the templates' defaults), durations in
 * milliseconds, conditions checked, counts defaulted by mode. Throws one AnalysisConfigurationError
 * listing every problem found, each naming its field and the fix.
 */
export function resolveMetrics(input: MetricResolutionInput): ResolvedMetric[] {
  const field = input.field ?? 'analysis';
  const problems: string[] = [];
  const context = contextArguments(input.context);
  const given = rolloutArguments(input.analysis, field, context, problems);
  const declared = new Set<string>();
  const used = new Set<string>();
  const resolved: ResolvedMetric[] = [];
  const definedBy = new Map<string, string>();
  const providers = input.providers ?? createMetricProviders();

  const resolve = (metric: Metric, where: MetricLocation, values: ReadonlyMap<string, string>) => {
    const provider = providerOf(metric, providers);
    provider.argumentNames(metric).forEach((name) => used.add(name));
    const previous = definedBy.get(metric.name);
    if (previous !== undefined) {
      problems.push(
        `metric "${metric.name}" is defined by both ${previous} and ${where.source}: ` +
          'rename one of them, since metric names must be unique within an analysis',
      );
    }
    definedBy.set(metric.name, where.source);
    const metricResolved = collect(problems, () =>
      resolveMetric(metric, where, values, input.mode, provider),
    );
    if (metricResolved) resolved.push(metricResolved);
  };

  for (const template of input.templates) {
    const values = new Map(context);
    template.spec.args.forEach((argument, index) => {
      declared.add(argument.name);
      const argumentField = `${template.source} spec.args[${index}]`;
      if (context.has(argument.name)) {
        if (argument.value !== undefined) {
          problems.push(
            `${argumentField} gives "${argument.name}" a default, but Siirto always provides it: remove the value`,
          );
        }
        return;
      }
      // An argument without a value is reported where a query uses it, with how to supply it.
      if (argument.value !== undefined) values.set(argument.name, argument.value);
    });
    // The Rollout's values win over defaults, and reach queries that use an argument undeclared.
    for (const [name, value] of given) values.set(name, value);
    template.spec.metrics.forEach((metric, index) => {
      const at = (property: string) =>
        `${template.source} spec.metrics[${index}].${property} (metric "${metric.name}")`;
      resolve(
        metric,
        {
          source: template.source,
          fieldOf: at,
          supply: `pass it in ${field}.args or give it a default in ${template.source} spec.args`,
        },
        values,
      );
    });
  }

  const builtIn = input.analysis.builtIn;
  if (builtIn) {
    const builtInField = `${field}.builtIn`;
    const metrics = collect(problems, () => builtInMetrics(builtIn, builtInField)) ?? [];
    const values = new Map([...context, ...given]);
    for (const metric of metrics) {
      const at = (property: string) =>
        property === QUERY ? `${builtInField}.selector` : `${builtInField}.${property}`;
      resolve(metric, { source: 'builtIn', fieldOf: at, supply: `pass it in ${field}.args` }, values);
    }
  }

  input.analysis.args.forEach((argument, index) => {
    if (!context.has(argument.name) && !declared.has(argument.name) && !used.has(argument.name)) {
      problems.push(
        `${field}.args[${index}] "${argument.name}" is declared by no template and used by no query: ` +
          'remove it or correct its name',
      );
    }
  });

  if (problems.length > 0) throw new AnalysisConfigurationError(problems);
  return resolved;
}

/** The Rollout's own arguments by name, leaving out (and reporting) the ones Siirto provides itself. */
function rolloutArguments(
  analysis: RolloutAnalysis,
  field: string,
  context: ReadonlyMap<string, string>,
  problems: string[],
): Map<string, string> {
  const given = new Map<string, string>();
  analysis.args.forEach((argument, index) => {
    const argumentField = `${field}.args[${index}]`;
    if (context.has(argument.name)) {
      problems.push(
        `${argumentField} sets "${argument.name}", which Siirto always provides (it is ` +
          `${JSON.stringify(context.get(argument.name))} here): remove it, or pass the value under another name`,
      );
    } else if (given.has(argument.name)) {
      problems.push(`${argumentField} sets "${argument.name}" a second time: keep one of them`);
    } else {
      given.set(argument.name, argument.value);
    }
  });
  return given;
}

const QUERY = 'provider.prometheus.query';

function resolveMetric(
  metric: Metric,
  where: MetricLocation,
  values: ReadonlyMap<string, string>,
  mode: MetricResolutionInput['mode'],
  provider: MetricProvider,
): ResolvedMetric {
  const problems: string[] = [];
  for (const property of ['successCondition', 'failureCondition'] as const) {
    const condition = metric[property];
    if (condition === undefined) continue;
    try {
      parseCondition(condition);
    } catch (error) {
      if (!(error instanceof ConditionSyntaxError)) throw error;
      problems.push(`${where.fieldOf(property)}: ${error.message}`);
    }
  }
  if (metric.successCondition === undefined && metric.failureCondition === undefined) {
    problems.push(`${where.fieldOf('successCondition')}: set successCondition, failureCondition or both`);
  }
  const interval = parseDuration(metric.interval);
  if (interval === undefined || interval < SHORTEST_INTERVAL_MILLISECONDS) {
    problems.push(
      `${where.fieldOf('interval')} is ${JSON.stringify(metric.interval)}, not a duration of at least 1s: ` +
        'write it like 30s or 1m',
    );
  }
  const initialDelay = metric.initialDelay === undefined ? 0 : parseDuration(metric.initialDelay);
  if (initialDelay === undefined) {
    problems.push(
      `${where.fieldOf('initialDelay')} is ${JSON.stringify(metric.initialDelay)}, not a duration: write it like 30s or 1m`,
    );
  }
  const measurement = collect(problems, () => provider.resolve(metric, where, values));
  if (
    problems.length > 0 ||
    measurement === undefined ||
    interval === undefined ||
    initialDelay === undefined
  ) {
    throw new AnalysisConfigurationError(problems);
  }
  return {
    name: metric.name,
    source: where.source,
    ...(provider.key !== FIRST_PROVIDER_KEY && { provider: provider.key }),
    ...measurement,
    ...(metric.successCondition !== undefined && { successCondition: metric.successCondition }),
    ...(metric.failureCondition !== undefined && { failureCondition: metric.failureCondition }),
    intervalMilliseconds: interval,
    count: metric.count ?? (mode === 'step' ? 1 : undefined),
    initialDelayMilliseconds: initialDelay,
    failureLimit: metric.failureLimit,
    inconclusiveLimit: metric.inconclusiveLimit,
    consecutiveErrorLimit: metric.consecutiveErrorLimit,
  };
}

/** Runs a step, moving the problems of an AnalysisConfigurationError into `problems`. */
function collect<T>(problems: string[], step: () => T): T | undefined {
  try {
    return step();
  } catch (error) {
    if (!(error instanceof AnalysisConfigurationError)) throw error;
    problems.push(...error.problems);
    return undefined;
  }
}
