import { ApplicationFailure } from '@temporalio/common';
import { z } from 'zod';
import { AnalysisConfigurationError } from '../analysis/analysis-configuration-error';
import { FailureType } from '../reasons/rollout-reasons';
import { resolveMetrics, type FetchedTemplate } from '../analysis/metric-resolution';
import type { PrometheusAddressAllowList } from '../analysis/prometheus-addresses';
import type { ResolvedMetric } from '../analysis/resolved-metric';
import type { KubeClients } from '../kubernetes/client';
import { isNotFound } from '../kubernetes/errors';
import {
  ANALYSIS_TEMPLATE_PLURAL,
  AnalysisTemplateSchema,
  CLUSTER_ANALYSIS_TEMPLATE_PLURAL,
  type RolloutAnalysis,
  type TemplateReference,
} from '../schemas/analysis';
import { ROLLOUT_GROUP, ROLLOUT_VERSION } from '../schemas/rollout';
import type { RolloutRef } from '../workflows/rollout-api';
import type { AnalysisContext } from './analysis-activities';
import { rethrowKubernetesError } from './kubernetes-failures';
import { describeRollout } from './rollout-reader';

export interface LocatedTemplateReference {
  reference: TemplateReference;
  /** Where the Rollout names the template, such as `spec.strategy.canary.steps[2].analysis.templates[0]`. */
  field: string;
}

/** How messages and kubectl name a template: `AnalysisTemplate shop/success-rate`. */
export function describeTemplate(reference: TemplateReference, namespace: string): string {
  return reference.clusterScope
    ? `ClusterAnalysisTemplate ${reference.templateName}`
    : `AnalysisTemplate ${namespace}/${reference.templateName}`;
}

/**
 * Reads the templates an analysis references, AnalysisTemplates from `namespace` and
 * ClusterAnalysisTemplates from the cluster, and checks each against the schema. A missing or
 * malformed template fails non-retryably with type `InvalidConfiguration` naming it and the field
 * that refers to it; other apiserver failures are retried or reported as kubernetes-failures.ts does.
 */
export async function fetchAnalysisTemplates(
  kube: KubeClients,
  { namespace, references }: { namespace: string; references: readonly LocatedTemplateReference[] },
): Promise<FetchedTemplate[]> {
  return Promise.all(references.map((located) => fetchTemplate(kube, namespace, located)));
}

async function fetchTemplate(
  kube: KubeClients,
  namespace: string,
  { reference, field }: LocatedTemplateReference,
): Promise<FetchedTemplate> {
  const source = describeTemplate(reference, namespace);
  const location = { group: ROLLOUT_GROUP, version: ROLLOUT_VERSION, name: reference.templateName };
  let object: unknown;
  try {
    object = reference.clusterScope
      ? await kube.custom.getClusterCustomObject({ ...location, plural: CLUSTER_ANALYSIS_TEMPLATE_PLURAL })
      : await kube.custom.getNamespacedCustomObject({
          ...location,
          namespace,
          plural: ANALYSIS_TEMPLATE_PLURAL,
        });
  } catch (error) {
    if (isNotFound(error)) {
      const scopeHint = reference.clusterScope
        ? ` (or set ${field}.clusterScope to false for an AnalysisTemplate in ${namespace})`
        : '';
      throw ApplicationFailure.nonRetryable(
        `${source} not found: create it or fix ${field}.templateName${scopeHint}`,
        FailureType.InvalidConfiguration,
      );
    }
    rethrowKubernetesError(error, { action: `reading ${source}` });
  }
  const parsed = AnalysisTemplateSchema.safeParse(object);
  if (!parsed.success) {
    throw ApplicationFailure.nonRetryable(
      `${source}, referenced by ${field}, is not a valid template: ${z.prettifyError(parsed.error)}. Fix the template and apply it again`,
      FailureType.InvalidConfiguration,
    );
  }
  return { reference, source, spec: parsed.data.spec };
}

/**
 * Fetches an analysis's templates and resolves its metrics (see analysis/metric-resolution.ts). A
 * problem in the analysis or its templates, a Prometheus address outside `allowedAddresses` included,
 * fails non-retryably with type `InvalidConfiguration`, listing every problem.
 */
export async function resolveAnalysis(
  kube: KubeClients,
  input: {
    rollout: RolloutRef;
    analysis: RolloutAnalysis;
    field: string;
    context: AnalysisContext;
    mode: 'step' | 'background';
  },
  allowedAddresses?: PrometheusAddressAllowList,
): Promise<ResolvedMetric[]> {
  const templates = await fetchAnalysisTemplates(kube, {
    namespace: input.rollout.namespace,
    references: input.analysis.templates.map((reference, index) => ({
      reference,
      field: `${input.field}.templates[${index}]`,
    })),
  });
  try {
    return resolveMetrics({
      templates,
      analysis: input.analysis,
      context: input.context,
      mode: input.mode,
      field: input.field,
      allowedAddresses,
    });
  } catch (error) {
    if (!(error instanceof AnalysisConfigurationError)) throw error;
    throw ApplicationFailure.nonRetryable(
      `${describeRollout(input.rollout)} ${input.field} cannot be measured: ${error.problems.join('; ')}`,
      FailureType.InvalidConfiguration,
    );
  }
}
