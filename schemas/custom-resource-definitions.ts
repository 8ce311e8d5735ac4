import { z } from 'zod';
import {
  ANALYSIS_TEMPLATE_PLURAL,
  AnalysisTemplateSpecSchema,
  CLUSTER_ANALYSIS_TEMPLATE_PLURAL,
} from './analysis';
import {
  ROLLOUT_GROUP,
  ROLLOUT_PLURAL,
  ROLLOUT_VERSION,
  RolloutSpecSchema,
  RolloutStatusSchema,
} from './rollout';

type JsonSchema = { [key: string]: unknown };

// JSON Schema that the apiserver's structural-schema rules do not accept, or that only adds noise.
const JS_SAFE_INTEGER_BOUNDS = new Set([Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER]);

function toStructural(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(toStructural);
  if (!schema || typeof schema !== 'object') return schema;
  const result: JsonSchema = {};
  const intOrString = (schema as JsonSchema)['x-kubernetes-int-or-string'] === true;
  for (const [key, value] of Object.entries(schema as JsonSchema)) {
    if (key === '$schema') continue;
    // An int-or-string takes no typed anyOf with bounds or patterns: the bridge checks its form.
    if (intOrString && key === 'anyOf') continue;
    if ((key === 'minimum' || key === 'maximum') && JS_SAFE_INTEGER_BOUNDS.has(value as number)) continue;
    // Structural schemas forbid additionalProperties beside properties or preserve-unknown-fields.
    if (key === 'additionalProperties') {
      const object = schema as JsonSchema;
      if (object.properties || object['x-kubernetes-preserve-unknown-fields'] || value === false) continue;
      if (value && typeof value === 'object' && Object.keys(value).length === 0) continue;
    }
    result[key] = toStructural(value);
  }
  return result;
}

const openApi = (schema: z.ZodType) =>
  toStructural(z.toJSONSchema(schema, { target: 'openapi-3.0', io: 'input' }));

interface ResourceDescription {
  kind: string;
  plural: string;
  shortNames: string[];
  scope: 'Namespaced' | 'Cluster';
  description: string;
  spec: z.ZodType;
  status?: z.ZodType;
  printerColumns: { name: string; type: string; jsonPath: string; description?: string }[];
  subresources?: {
    scale: { specReplicasPath: string; statusReplicasPath: string; labelSelectorPath: string };
  };
}

/** A siirto.dev CustomResourceDefinition whose OpenAPI schema is generated from the zod schemas. */
function customResourceDefinition(resource: ResourceDescription) {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${resource.plural}.${ROLLOUT_GROUP}` },
    spec: {
      group: ROLLOUT_GROUP,
      scope: resource.scope,
      names: {
        kind: resource.kind,
        listKind: `${resource.kind}List`,
        plural: resource.plural,
        singular: resource.kind.toLowerCase(),
        shortNames: resource.shortNames,
      },
      versions: [
        {
          name: ROLLOUT_VERSION,
          served: true,
          storage: true,
          ...(resource.status ? { subresources: { status: {}, ...resource.subresources } } : {}),
          additionalPrinterColumns: resource.printerColumns,
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description: resource.description,
              properties: {
                apiVersion: { type: 'string' },
                kind: { type: 'string' },
                metadata: { type: 'object' },
                spec: openApi(resource.spec),
                ...(resource.status ? { status: openApi(resource.status) } : {}),
              },
              required: ['spec'],
            },
          },
        },
      ],
    },
  };
}

const age = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' };

/** Siirto's CustomResourceDefinitions, each with the file name `npm run crd:generate` writes it to. */
export function siirtoCustomResourceDefinitions() {
  const analysisTemplate = (kind: string, plural: string, scope: 'Namespaced' | 'Cluster') =>
    customResourceDefinition({
      kind,
      plural,
      shortNames: [],
      scope,
      description:
        scope === 'Cluster'
          ? 'Metrics any Rollout in the cluster can judge its canary by.'
          : 'Metrics the Rollouts of this namespace can judge their canaries by.',
      spec: AnalysisTemplateSpecSchema,
      printerColumns: [age],
    });
  return {
    [`${ROLLOUT_PLURAL}.${ROLLOUT_GROUP}.yaml`]: customResourceDefinition({
      kind: 'Rollout',
      plural: ROLLOUT_PLURAL,
      shortNames: ['ro'],
      scope: 'Namespaced',
      description: 'A Rollout replaces its pods revision by revision, shifting traffic step by step.',
      spec: RolloutSpecSchema,
      status: RolloutStatusSchema,
      // kubectl scale and a HorizontalPodAutoscaler size a Rollout as they would a Deployment.
      subresources: {
        scale: {
          specReplicasPath: '.spec.replicas',
          statusReplicasPath: '.status.replicas',
          labelSelectorPath: '.status.selector',
        },
      },
      printerColumns: [
        { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
        { name: 'Step', type: 'string', jsonPath: '.status.step' },
        {
          name: 'Weight',
          type: 'integer',
          jsonPath: '.status.weights.canary',
          description: 'Canary traffic %',
        },
        { name: 'Revision', type: 'integer', jsonPath: '.status.revision' },
        age,
      ],
    }),
    [`${ANALYSIS_TEMPLATE_PLURAL}.${ROLLOUT_GROUP}.yaml`]: analysisTemplate(
      'AnalysisTemplate',
      ANALYSIS_TEMPLATE_PLURAL,
      'Namespaced',
    ),
    [`${CLUSTER_ANALYSIS_TEMPLATE_PLURAL}.${ROLLOUT_GROUP}.yaml`]: analysisTemplate(
      'ClusterAnalysisTemplate',
      CLUSTER_ANALYSIS_TEMPLATE_PLURAL,
      'Cluster',
    ),
  };
}
