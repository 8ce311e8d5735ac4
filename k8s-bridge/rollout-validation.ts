import { fetchAnalysisTemplates } from '../activities/analysis-templates';
import { checkTrafficRoutingChoice } from './basic-canary-validation';
import { createTrafficRouters, validateTrafficRouting } from '../activities/traffic-routers';
import { ApplicationFailure } from '@temporalio/common';
import { AnalysisConfigurationError, INVALID_CONFIGURATION } from '../analysis/analysis-configuration-error';
import { resolveMetrics, type FetchedTemplate } from '../analysis/metric-resolution';
import type { KubeClients } from '../kubernetes/client';
import type { z } from 'zod';
import { isNotFound } from '../kubernetes/errors';
import { parsePauseDuration } from '../schemas/duration';
import type { RolloutAnalysis, TemplateReference } from '../schemas/analysis';
import { RolloutSchema, type LabelSelector, type Rollout } from '../schemas/rollout';
import { checkAbTesting } from './ab-testing-validation';
import { blueGreenAnalyses, checkBlueGreen, trafficServices } from './blue-green-validation';
import { variantBRoute } from '../workflows/strategies/ab-testing-plan';

/**
 * Checks a Rollout before the bridge acts on it. The CRD's schema already rejects wrong shapes at
 * apply time; what is left needs reading (durations), arithmetic the schema cannot express (weights
 * above 100) or the cluster (the Services, routes and templates it names; the routes are their traffic
 * router's to check). Each problem is one line naming the field and the fix, since it ends up in
 * `kubectl describe rollout` for the person who wrote it.
 *
 * The checks are pure given `ClusterFacts`; `lookUpClusterFacts` gathers those from the apiserver.
 */

/** What the checks need to know about the objects a Rollout names, all in its namespace. */
export interface ClusterFacts {
  /** The Services, among those the Rollout names, that exist. */
  existingServices: ReadonlySet<string>;
  /**
   * What keeps the routing objects the Rollout names (its HTTPRoutes) from carrying its traffic, as
   * their traffic router found: each line names the field and the fix.
   */
  routingProblems: readonly string[];
  /** The analysis templates the Rollout names that exist and parse, by templateKey. */
  analysisTemplates: ReadonlyMap<string, FetchedTemplate>;
  /** Why the others could not be used: missing, or not a valid template. */
  templateProblems: readonly string[];
}

/** Where a Rollout asks for analysis: each step analysis and the background one. */
export function rolloutAnalyses(
  rollout: Rollout,
): { analysis: RolloutAnalysis; field: string; mode: 'step' | 'background' }[] {
  const canary = rollout.spec.strategy.canary;
  if (!canary) return blueGreenAnalyses(rollout);
  // A judged analysis has no templates to resolve: its schema checks its queries.
  const steps = canary.steps.flatMap((step, index) =>
    step.analysis && !step.analysis.judge
      ? [
          {
            analysis: step.analysis,
            field: `spec.strategy.canary.steps[${index}].analysis`,
            mode: 'step' as const,
          },
        ]
      : [],
  );
  const background = canary.analysis
    ? [{ analysis: canary.analysis, field: 'spec.strategy.canary.analysis', mode: 'background' as const }]
    : [];
  return [...steps, ...background];
}

export function templateKey(reference: TemplateReference): string {
  return `${reference.clusterScope ? 'cluster' : 'namespace'}/${reference.templateName}`;
}

export type RolloutParse = { rollout: Rollout; problems: [] } | { rollout?: undefined; problems: string[] };

/** `spec.strategy.canary.steps[2].setWeight`, as kubectl and the apiserver spell paths. */
export function fieldPath(path: readonly PropertyKey[]): string {
  return path
    .map((key, index) => (typeof key === 'number' ? `[${key}]` : `${index === 0 ? '' : '.'}${String(key)}`))
    .join('');
}

/** Parses with the Rollout schema; each zod issue becomes a problem naming its field. */
export function parseRollout(object: unknown): RolloutParse {
  const parsed = RolloutSchema.safeParse(object);
  if (parsed.success) return { rollout: parsed.data, problems: [] };
  return { problems: parsed.error.issues.map(describeIssue) };
}

function describeIssue(issue: z.core.$ZodIssue): string {
  const where = issue.path.length ? fieldPath(issue.path) : 'the Rollout';
  return `${where}: ${issue.message}`;
}

/** The problems with a parsed Rollout that its schema cannot catch; empty when it is valid. */
export function checkRollout(rollout: Rollout, facts: ClusterFacts): string[] {
  const problems = [
    ...checkSelector(rollout),
    ...checkSteps(rollout),
    ...checkStartingStep(rollout),
    ...checkAnalyses(rollout, facts),
    ...checkBlueGreen(rollout, facts.existingServices),
    ...checkAbTesting(rollout, facts.existingServices),
  ];
  const canary = rollout.spec.strategy.canary;
  if (!canary) return [...problems, ...facts.routingProblems];
  const namespace = rollout.metadata.namespace;

  problems.push(...checkTrafficRoutingChoice(canary));
  // Without trafficRouting either Service may be left out; those given are pointed as with a router.
  const services = [
    { name: canary.stableService, field: 'spec.strategy.canary.stableService' },
    { name: canary.canaryService, field: 'spec.strategy.canary.canaryService' },
  ].filter((service): service is { name: string; field: string } => service.name !== undefined);
  if (canary.stableService !== undefined && canary.stableService === canary.canaryService) {
    problems.push(
      `spec.strategy.canary.canaryService: "${canary.canaryService}" is also the stableService; ` +
        'give the canary pods a Service of their own so traffic can be split between the two',
    );
  }
  for (const service of services) {
    if (!facts.existingServices.has(service.name)) {
      problems.push(
        `${service.field}: Service "${service.name}" not found in namespace ${namespace}; ` +
          'create it, or name an existing Service',
      );
    }
  }
  problems.push(...facts.routingProblems);
  return problems;
}

function checkSteps(rollout: Rollout): string[] {
  const problems: string[] = [];
  const steps = rollout.spec.strategy.canary?.steps ?? [];
  steps.forEach((step, index) => {
    const field = `spec.strategy.canary.steps[${index}]`;
    // The baseline has as many pods as the canary: a judge before any canary pod judges nothing.
    const canaryPodsBefore = steps
      .slice(0, index)
      .some((earlier) => (earlier.setWeight ?? 0) > 0 || earlier.setCanaryScale !== undefined);
    const routing = rollout.spec.strategy.canary?.trafficRouting;
    // A judge's baseline needs a backend of its own, weighted as the canary: ingress-nginx's canary
    // Ingress splits between two Services only.
    if (step.analysis?.judge && routing?.nginx && !routing.gatewayAPI) {
      problems.push(
        `${field}.analysis.judge: spec.strategy.canary.trafficRouting.nginx cannot give the baseline the ` +
          "canary's share of traffic (an ingress-nginx canary Ingress splits between two Services only); route " +
          'through spec.strategy.canary.trafficRouting.gatewayAPI, or judge by a threshold (analysis.templates) instead',
      );
    }
    // Through Gateway API the baseline takes its share from the stable's: above 50 % the stable has
    // less left than the canary has, and the two would be judged on unequal traffic.
    const weightAtStep = steps
      .slice(0, index)
      .reduce<number | undefined>((weight, earlier) => earlier.setWeight ?? weight, undefined);
    if (step.analysis?.judge && routing?.gatewayAPI && weightAtStep !== undefined && weightAtStep > 50) {
      problems.push(
        `${field}.analysis.judge: the canary has ${weightAtStep} % of the traffic here, and the baseline can ` +
          "get the canary's share only from the stable's rest, which is smaller; judge after a setWeight of 50 " +
          'or less',
      );
    }
    if (step.analysis?.judge && !canaryPodsBefore) {
      problems.push(
        `${field}.analysis.judge: no step before it gives the canary pods, so there is nothing to judge ` +
          'against a baseline; put a setWeight step with a weight above 0 before it',
      );
    }
    if (step.setWeight !== undefined && step.setWeight > 100) {
      problems.push(
        `${field}.setWeight: ${step.setWeight} is above 100; a weight is the percentage of traffic ` +
          'for the canary, from 0 to 100',
      );
    }
    const duration = step.pause?.duration;
    if (duration !== undefined && parsePauseDuration(duration) === undefined) {
      problems.push(
        `${field}.pause.duration: ${JSON.stringify(duration)} is not a duration; write it like 30s, 5m or ` +
          '1h30m, or as whole seconds like 10, or leave it out to pause until promoted',
      );
    }
    if (step.pause?.external && duration !== undefined) {
      problems.push(
        `${field}.pause: external and duration do not go together; an external step lasts until ` +
          'promoted, so remove duration (or external, for a timed pause)',
      );
    }
  });
  problems.push(...checkBackgroundJudge(rollout));
  return problems;
}

/**
 * A background judge runs beside the steps from `startingStep` to promotion, its baseline named after
 * the stable revision as a step judge's is: the two cannot both judge in one Rollout. Its baseline
 * takes the canary's share from the stable's as a step judge's does, so the same limits hold on every
 * weight it sees.
 */
function checkBackgroundJudge(rollout: Rollout): string[] {
  const canary = rollout.spec.strategy.canary;
  const analysis = canary?.analysis;
  if (!canary || !analysis?.judge) return [];
  const field = 'spec.strategy.canary.analysis.judge';
  const problems: string[] = [];
  const judgedStep = canary.steps.findIndex((step) => step.analysis?.judge !== undefined);
  if (judgedStep >= 0) {
    problems.push(
      `${field}: spec.strategy.canary.steps[${judgedStep}].analysis.judge judges against a baseline too, ` +
        'and the two would share one baseline; keep the judge in the background analysis or in the ' +
        'steps, not both',
    );
  }
  const routing = canary.trafficRouting;
  if (routing?.nginx && !routing.gatewayAPI) {
    problems.push(
      `${field}: spec.strategy.canary.trafficRouting.nginx cannot give the baseline the canary's share of ` +
        'traffic (an ingress-nginx canary Ingress splits between two Services only); route through ' +
        'spec.strategy.canary.trafficRouting.gatewayAPI, or measure by a threshold (analysis.templates) instead',
    );
  }
  if (routing?.gatewayAPI) {
    // Every weight the judge sees: the one in effect at its starting step, and each set after it.
    const inEffect = canary.steps
      .slice(0, analysis.startingStep)
      .reduce<number | undefined>((weight, step) => step.setWeight ?? weight, undefined);
    const seen = [
      ...(inEffect === undefined ? [] : [inEffect]),
      ...canary.steps.slice(analysis.startingStep).flatMap((step) => step.setWeight ?? []),
    ];
    const highest = Math.max(...seen, 0);
    if (highest > 50) {
      problems.push(
        `${field}: the canary has ${highest} % of the traffic while the background judge runs, and the ` +
          "baseline can get the canary's share only from the stable's rest, which is smaller; keep every " +
          'setWeight from spec.strategy.canary.analysis.startingStep on at 50 or less, or judge in an ' +
          'analysis step after a setWeight of 50 or less instead',
      );
    }
  }
  return problems;
}

/**
 * A background analysis starts when the steps reach `startingStep`: one beyond the last step would
 * never start, and the canary would be promoted without ever being measured.
 */
function checkStartingStep(rollout: Rollout): string[] {
  const canary = rollout.spec.strategy.canary;
  const startingStep = canary?.analysis?.startingStep;
  if (!canary || startingStep === undefined || startingStep < canary.steps.length) return [];
  const field = 'spec.strategy.canary.analysis.startingStep';
  if (canary.steps.length === 0) {
    return [
      `${field}: ${startingStep} names a step, but spec.strategy.canary.steps has none, so the background ` +
        'analysis would never run: add steps for it to run beside, or remove spec.strategy.canary.analysis',
    ];
  }
  const last = canary.steps.length - 1;
  return [
    `${field}: ${startingStep} is beyond the last step; spec.strategy.canary.steps has ${canary.steps.length} ` +
      `step${canary.steps.length === 1 ? '' : 's'} (indices 0 to ${last}), so the background analysis would ` +
      `never run: set it to ${last === 0 ? '0' : `0–${last}`}`,
  ];
}

/**
 * Resolves every analysis as the worker will, with stand-in hashes, so a malformed condition, duration
 * or a missing argument makes the Rollout Invalid before any traffic moves.
 */
function checkAnalyses(rollout: Rollout, facts: ClusterFacts): string[] {
  const services = trafficServices(rollout);
  if (!services) return [];
  const problems = [...facts.templateProblems];
  for (const { analysis, field, mode } of rolloutAnalyses(rollout)) {
    const templates = analysis.templates.map((reference) =>
      facts.analysisTemplates.get(templateKey(reference)),
    );
    if (templates.some((template) => template === undefined)) continue;
    try {
      resolveMetrics({
        templates: templates as FetchedTemplate[],
        analysis,
        field,
        mode,
        context: {
          namespace: rollout.metadata.namespace,
          rollout: rollout.metadata.name,
          canaryHash: 'canary-hash',
          stableHash: 'stable-hash',
          canaryService: services?.canaryService ?? services?.stableService ?? '',
          stableService: services?.stableService ?? '',
        },
      });
    } catch (error) {
      if (!(error instanceof AnalysisConfigurationError)) throw error;
      problems.push(...error.problems);
    }
  }
  return problems;
}

function checkSelector(rollout: Rollout): string[] {
  const { selector, template } = rollout.spec;
  const labels = template.metadata?.labels ?? {};
  const matchLabels = Object.entries(selector.matchLabels ?? {});
  const expressions = selector.matchExpressions ?? [];
  if (matchLabels.length === 0 && expressions.length === 0) {
    return [
      'spec.selector: is empty and would select every pod in the namespace; set matchLabels to labels ' +
        'that spec.template.metadata.labels carries',
    ];
  }
  const problems: string[] = [];
  for (const [key, value] of matchLabels) {
    if (labels[key] === value) continue;
    const actual = key in labels ? `is ${JSON.stringify(labels[key])}` : 'is not set';
    problems.push(
      `spec.selector.matchLabels.${key}: selects ${JSON.stringify(value)} but ` +
        `spec.template.metadata.labels.${key} ${actual}; make the selector match the template labels`,
    );
  }
  expressions.forEach((expression, index) => {
    if (expressionHolds(expression, labels)) return;
    const values = expression.values?.length ? ` [${expression.values.join(', ')}]` : '';
    problems.push(
      `spec.selector.matchExpressions[${index}]: ${expression.key} ${expression.operator}${values} does not ` +
        'hold for spec.template.metadata.labels; make the selector match the template labels',
    );
  });
  return problems;
}

type SelectorExpression = NonNullable<LabelSelector['matchExpressions']>[number];

/** Label-selector semantics as the apiserver applies them: NotIn also holds when the label is absent. */
function expressionHolds(expression: SelectorExpression, labels: Record<string, string>): boolean {
  const value = labels[expression.key];
  const present = value !== undefined;
  const listed = present && (expression.values ?? []).includes(value);
  switch (expression.operator) {
    case 'In':
      return listed;
    case 'NotIn':
      return !listed;
    case 'Exists':
      return present;
    case 'DoesNotExist':
      return !present;
  }
}

/**
 * The lookup half: reads the Services and analysis templates a Rollout names, and has its traffic
 * router check its routing objects. Missing ones are facts, not errors.
 */
export async function lookUpClusterFacts(clients: KubeClients, rollout: Rollout): Promise<ClusterFacts> {
  const namespace = rollout.metadata.namespace;
  const services = trafficServices(rollout);
  const serviceNames = services
    ? [...new Set([services.stableService, services.canaryService])].filter((name) => name !== undefined)
    : [];
  const existingServices = new Set<string>();
  let routingProblems: string[] = [];
  const analysisTemplates = new Map<string, FetchedTemplate>();
  const templateProblems: string[] = [];
  const references = new Map(
    rolloutAnalyses(rollout).flatMap(({ analysis, field }) =>
      analysis.templates.map((reference, index) => [
        templateKey(reference),
        { reference, field: `${field}.templates[${index}]` },
      ]),
    ),
  );
  await Promise.all([
    ...[...references].map(async ([key, located]) => {
      try {
        const [template] = await fetchAnalysisTemplates(clients, { namespace, references: [located] });
        if (template) analysisTemplates.set(key, template);
      } catch (error) {
        // Missing or malformed: the message names the template, the field and the fix.
        if (!(error instanceof ApplicationFailure) || error.type !== INVALID_CONFIGURATION) throw error;
        templateProblems.push(error.message);
      }
    }),
    ...serviceNames.map(async (name) => {
      if (await existsOrNotFound(() => clients.core.readNamespacedService({ name, namespace }))) {
        existingServices.add(name);
      }
    }),
    (async () => {
      // Without a router there are no routes to check.
      if (!services?.trafficRouting || !services.stableService || !services.canaryService) return;
      const steps = rollout.spec.strategy.canary?.steps ?? [];
      const mirrorSteps = steps.flatMap((step, index) =>
        step.setMirrorRoute?.match ? [`spec.strategy.canary.steps[${index}].setMirrorRoute`] : [],
      );
      const headerSteps = steps.flatMap((step, index) =>
        step.setHeaderRoute?.match
          ? [{ field: `spec.strategy.canary.steps[${index}].setHeaderRoute`, route: step.setHeaderRoute }]
          : [],
      );
      const abTesting = rollout.spec.strategy.abTesting;
      // The rule an experiment adds for B is checked as a header step's would be.
      if (abTesting) {
        headerSteps.push({
          field: 'spec.strategy.abTesting.variantBMatch',
          route: variantBRoute(abTesting.variantBMatch),
        });
      }
      routingProblems = await validateTrafficRouting(
        createTrafficRouters(clients),
        {
          rollout: { name: rollout.metadata.name, namespace, uid: rollout.metadata.uid ?? '' },
          trafficRouting: services.trafficRouting,
          stableService: services.stableService,
          canaryService: services.canaryService,
          field: services.field,
          roles: services.roles,
        },
        mirrorSteps,
        headerSteps,
      );
    })(),
  ]);
  return { existingServices, routingProblems, analysisTemplates, templateProblems };
}

async function existsOrNotFound<T>(read: () => Promise<T>): Promise<T | undefined> {
  try {
    return await read();
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}
