import { parseCondition } from '../analysis/condition';
import { parseDuration } from '../schemas/duration';
import { ROLLOUT_GROUP, ROLLOUT_VERSION } from '../schemas/rollout';
import { isObject, noteDropped, objectsIn, pick, type Json, type Note } from './argo-conversion-notes';

/** The arguments Siirto fills in itself (analysis/metric-resolution.ts); a template may not default them. */
const SIIRTO_ARGUMENTS = [
  'namespace',
  'rollout',
  'canary-hash',
  'stable-hash',
  'canary-service',
  'stable-service',
];

/** What Argo's pod-template-hash arguments are called among Siirto's own. */
const HASH_ARGUMENTS: Record<string, string> = { Latest: 'canary-hash', Stable: 'stable-hash' };

const METRIC_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

const TEMPLATE_SPEC_DROPPED = {
  dryRun: 'Siirto has no dry-run metrics; every metric it measures decides',
  measurementRetention: 'Siirto keeps the last 5 measurements of each metric in the Rollout status',
};

const METRIC_DROPPED = {
  consecutiveSuccessLimit:
    'Siirto judges each measurement on its own, against failureLimit and inconclusiveLimit',
};

const PROMETHEUS_DROPPED = {
  timeout: "Siirto's worker sets the query timeout",
  insecure: 'Siirto verifies Prometheus certificates',
  headers: 'Siirto sends no headers of a template to Prometheus; reach it without them',
  authentication: 'Siirto sends no credentials of a template to Prometheus; reach it without them',
  rangeQuery: 'Siirto runs instant queries; write one that returns a single number',
};

/** The name a template is known by among the converted documents: `ClusterAnalysisTemplate/name`. */
export function templateKey(clusterScope: boolean, name: unknown): string {
  return `${clusterScope ? 'ClusterAnalysisTemplate' : 'AnalysisTemplate'}/${String(name)}`;
}

/**
 * An Argo AnalysisTemplate or ClusterAnalysisTemplate as Siirto's, or undefined when none of its
 * metrics can be measured by Siirto (every one of them is then noted).
 */
export function convertAnalysisTemplate(document: Json, note: Note): Json | undefined {
  const spec = isObject(document.spec) ? document.spec : {};
  noteDropped(spec, 'spec', TEMPLATE_SPEC_DROPPED, note);
  const args = objectsIn(spec.args).flatMap((argument, index) => {
    const converted = convertTemplateArgument(argument, `spec.args[${index}]`, note);
    return converted ? [converted] : [];
  });
  const metrics = objectsIn(spec.metrics).flatMap((metric, index) => {
    const converted = convertMetric(metric, `spec.metrics[${index}]`, note);
    return converted ? [converted] : [];
  });
  if (metrics.length === 0) {
    note('spec.metrics', 'no metric left that Siirto can measure, so the template is left out');
    return undefined;
  }
  const metadata = isObject(document.metadata) ? document.metadata : {};
  return {
    apiVersion: `${ROLLOUT_GROUP}/${ROLLOUT_VERSION}`,
    kind: document.kind,
    metadata: pick(metadata, ['name', 'namespace', 'labels', 'annotations']),
    spec: { ...(args.length > 0 ? { args } : {}), metrics },
  };
}

function convertTemplateArgument(argument: Json, at: string, note: Note): Json | undefined {
  const name = String(argument.name);
  if (SIIRTO_ARGUMENTS.includes(name)) {
    if (argument.value !== undefined || argument.valueFrom !== undefined) {
      note(`${at}.value`, `not carried over: Siirto always fills in "${name}" itself`);
    }
    return { name };
  }
  if (argument.valueFrom !== undefined) {
    note(
      `${at}.valueFrom`,
      `not carried over: Siirto keeps no Secret values in its inputs; pass "${name}" as a plain value ` +
        'from the Rollout, or let the worker reach Prometheus without it',
    );
  }
  return pick(argument, ['name', 'value']);
}

function convertMetric(metric: Json, at: string, note: Note): Json | undefined {
  const provider = isObject(metric.provider) ? metric.provider : {};
  const prometheus = provider.prometheus;
  const others = Object.keys(provider).filter((name) => name !== 'prometheus');
  if (!isObject(prometheus)) {
    note(
      `${at}.provider`,
      `not carried over: Siirto measures with Prometheus only, not ${others.join(', ') || 'an empty provider'}; ` +
        'the metric is left out',
    );
    return undefined;
  }
  noteDropped(metric, at, METRIC_DROPPED, note);
  noteDropped(prometheus, `${at}.provider.prometheus`, PROMETHEUS_DROPPED, note);
  const name = metricName(metric.name, at, note);
  const conditions = Object.fromEntries(
    (['successCondition', 'failureCondition'] as const).flatMap((field) => {
      const condition = convertCondition(metric[field], `${at}.${field}`, note);
      return condition === undefined ? [] : [[field, condition]];
    }),
  );
  if (Object.keys(conditions).length === 0) {
    note(at, 'left out: Siirto judges a metric by a successCondition or failureCondition, and none is left');
    return undefined;
  }
  const durations = Object.fromEntries(
    (['interval', 'initialDelay'] as const).flatMap((field) => {
      const value = metric[field];
      if (value === undefined) return [];
      if (typeof value === 'string' && parseDuration(value) !== undefined) return [[field, value]];
      note(
        `${at}.${field}`,
        `not carried over: ${JSON.stringify(value)} is no duration Siirto reads (ms, s, m, h)`,
      );
      return [];
    }),
  );
  const counts = Object.fromEntries(
    (['count', 'failureLimit', 'inconclusiveLimit', 'consecutiveErrorLimit'] as const).flatMap((field) => {
      const value = wholeNumber(metric[field]);
      if (metric[field] === undefined) return [];
      if (value !== undefined) return [[field, value]];
      note(
        `${at}.${field}`,
        `not carried over: Siirto takes a whole number here, not ${JSON.stringify(metric[field])}`,
      );
      return [];
    }),
  );
  return {
    name,
    ...durations,
    ...counts,
    ...conditions,
    provider: { prometheus: pick(prometheus, ['address', 'query']) },
  };
}

/** Argo's counts are int-or-string; Siirto's are numbers. */
function wholeNumber(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  if (typeof value === 'string' && /^\d+$/.test(value)) return Number(value);
  return undefined;
}

/** Siirto's metric names are DNS labels: `successRate` becomes `success-rate`. */
function metricName(name: unknown, at: string, note: Note): string {
  const text = String(name);
  if (METRIC_NAME.test(text) && text.length <= 63) return text;
  const renamed = text
    .replace(/([a-z0-9])([A-Z])/g, '$1-$2')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63)
    .replace(/-+$/, '');
  note(
    `${at}.name`,
    `renamed to "${renamed}": Siirto's metric names are lowercase letters, digits and dashes`,
  );
  return renamed;
}

/**
 * Argo's conditions are expressions over a list of results (`result[0] >= 0.95`); Siirto's query
 * returns one number, so `result[0]` is `result`. What Siirto's condition language cannot read is
 * left out, with the parser's own words.
 */
function convertCondition(condition: unknown, at: string, note: Note): string | undefined {
  if (condition === undefined) return undefined;
  const text = String(condition).replace(/\bresult\s*\[\s*0\s*\]/g, 'result');
  try {
    parseCondition(text);
    return text;
  } catch (error) {
    note(
      at,
      `not carried over: ${error instanceof Error ? error.message : String(error)}; Siirto's conditions ` +
        'compare the one number a query returns, such as result < 0.05 or isNaN(result)',
    );
    return undefined;
  }
}

/** Where a Rollout's analysis references are converted, and what it knows to do so. */
export interface ReferenceContext {
  rolloutName: unknown;
  rolloutNamespace: unknown;
  /** Templates in the same input that were left out whole, by templateKey. */
  droppedTemplates: ReadonlySet<string>;
}

const REFERENCE_DROPPED = {
  dryRun: 'Siirto has no dry-run metrics; every metric it measures decides',
  measurementRetention: 'Siirto keeps the last 5 measurements of each metric in the Rollout status',
  analysisRunMetadata: 'Siirto creates no AnalysisRun objects; the analysis runs as a Temporal workflow',
};

/**
 * A Rollout's analysis (a step's, the background one, blue-green's pre- or post-promotion one) as
 * Siirto's, or undefined when it references no template Siirto will have.
 */
export function convertAnalysisReference(
  reference: Json,
  at: string,
  note: Note,
  context: ReferenceContext,
): Json | undefined {
  noteDropped(reference, at, REFERENCE_DROPPED, note);
  const templates = objectsIn(reference.templates).flatMap((template, index) => {
    const clusterScope = template.clusterScope === true;
    if (context.droppedTemplates.has(templateKey(clusterScope, template.templateName))) {
      note(`${at}.templates[${index}]`, 'left out with the template it names, which Siirto cannot measure');
      return [];
    }
    return [pick(template, ['templateName', 'clusterScope'])];
  });
  if (templates.length === 0) {
    note(at, 'left out: it names no template that Siirto can measure');
    return undefined;
  }
  const args = objectsIn(reference.args).flatMap((argument, index) => {
    const value = argumentValue(argument, `${at}.args[${index}]`, note, context);
    return value === undefined ? [] : [{ name: argument.name, value }];
  });
  return {
    templates,
    ...(args.length > 0 ? { args } : {}),
    ...pick(reference, ['startingStep']),
  };
}

/** A Rollout's argument as a plain value, or undefined when Siirto fills it in or cannot. */
function argumentValue(
  argument: Json,
  at: string,
  note: Note,
  context: ReferenceContext,
): string | undefined {
  const name = String(argument.name);
  if (SIIRTO_ARGUMENTS.includes(name)) {
    note(at, `not carried over: Siirto always fills in "${name}" itself`);
    return undefined;
  }
  if (argument.value !== undefined) return String(argument.value);
  const from = isObject(argument.valueFrom) ? argument.valueFrom : {};
  const hash =
    typeof from.podTemplateHashValue === 'string' ? HASH_ARGUMENTS[from.podTemplateHashValue] : undefined;
  if (hash !== undefined) {
    note(
      `${at}.valueFrom`,
      `not carried over: Siirto fills in this hash as {{args.${hash}}}; write that in the template's ` +
        `queries in place of {{args.${name}}}`,
    );
    return undefined;
  }
  const fieldPath = isObject(from.fieldRef) ? from.fieldRef.fieldPath : undefined;
  if (fieldPath === 'metadata.name' && typeof context.rolloutName === 'string') return context.rolloutName;
  if (fieldPath === 'metadata.namespace' && typeof context.rolloutNamespace === 'string') {
    return context.rolloutNamespace;
  }
  note(
    `${at}.valueFrom`,
    'not carried over: Siirto takes plain values; write the value here, or use the arguments Siirto fills ' +
      `in itself (${SIIRTO_ARGUMENTS.join(', ')})`,
  );
  return undefined;
}
