import { z } from 'zod';
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
  for (const [key, value] of Object.entries(schema as JsonSchema)) {
    if (key === '$schema') continue;
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

/** The Rollout CustomResourceDefinition, its OpenAPI schema generated from the zod schemas. */
export function rolloutCustomResourceDefinition() {
  const openApi = (schema: z.ZodType) =>
    toStructural(z.toJSONSchema(schema, { target: 'openapi-3.0', io: 'input' }));
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${ROLLOUT_PLURAL}.${ROLLOUT_GROUP}` },
    spec: {
      group: ROLLOUT_GROUP,
      scope: 'Namespaced',
      names: {
        kind: 'Rollout',
        listKind: 'RolloutList',
        plural: ROLLOUT_PLURAL,
        singular: 'rollout',
        shortNames: ['ro'],
      },
      versions: [
        {
          name: ROLLOUT_VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [
            { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
            { name: 'Step', type: 'integer', jsonPath: '.status.currentStepIndex' },
            {
              name: 'Weight',
              type: 'integer',
              jsonPath: '.status.weights.canary',
              description: 'Canary traffic %',
            },
            { name: 'Revision', type: 'integer', jsonPath: '.status.revision' },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description: 'A Rollout replaces its pods revision by revision, shifting traffic step by step.',
              properties: {
                apiVersion: { type: 'string' },
                kind: { type: 'string' },
                metadata: { type: 'object' },
                spec: openApi(RolloutSpecSchema),
                status: openApi(RolloutStatusSchema),
              },
              required: ['spec'],
            },
          },
        },
      ],
    },
  };
}
