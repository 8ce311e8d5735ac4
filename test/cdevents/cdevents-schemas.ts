import Ajv2020, { type ErrorObject, type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * Checks events against the official CDEvents v0.5.1 JSON schemas (test/fixtures/cdevents-schemas/).
 * The event schemas refer to the link schemas by relative $ref, so those are loaded first.
 */

export const CDEVENTS_SCHEMA_DIR = path.join(__dirname, '..', 'fixtures', 'cdevents-schemas', 'v0.5.1');

interface Schema {
  $id: string;
  properties?: { context?: { properties?: { type?: { enum?: string[] } } } };
}

function readSchemas(directory: string): Schema[] {
  return readdirSync(directory)
    .filter((file) => file.endsWith('.json'))
    .sort()
    .map((file) => JSON.parse(readFileSync(path.join(directory, file), 'utf8')) as Schema);
}

function readable(error: ErrorObject): string {
  const where = error.instancePath || '(the event)';
  const extra =
    error.keyword === 'additionalProperties'
      ? ` (${JSON.stringify((error.params as { additionalProperty: string }).additionalProperty)})`
      : error.keyword === 'enum'
        ? ` (${JSON.stringify((error.params as { allowedValues: unknown[] }).allowedValues)})`
        : '';
  return `${where} ${error.message ?? error.keyword}${extra}`;
}

export interface CDEventsValidator {
  /** The event types there is a schema for, such as `dev.cdevents.service.deployed.0.3.0`. */
  types: string[];
  /**
   * Problems of an event against the schema of its `context.type`, as readable lines; empty when it
   * is valid. `expect(validator.problems(event)).toEqual([])` shows them in a failed test.
   */
  problems(event: unknown): string[];
}

export function cdEventsValidator(directory = CDEVENTS_SCHEMA_DIR): CDEventsValidator {
  const ajv = new Ajv2020({ allErrors: true });
  addFormats(ajv);
  for (const schema of readSchemas(path.join(directory, 'links'))) ajv.addSchema(schema);
  const byType = new Map<string, ValidateFunction>();
  for (const schema of readSchemas(directory)) {
    ajv.addSchema(schema);
    for (const type of schema.properties?.context?.properties?.type?.enum ?? []) {
      byType.set(type, ajv.getSchema(schema.$id) as ValidateFunction);
    }
  }
  return {
    types: [...byType.keys()].sort(),
    problems(event) {
      const type = (event as { context?: { type?: unknown } } | null)?.context?.type;
      const validate = typeof type === 'string' ? byType.get(type) : undefined;
      if (!validate) return [`context.type ${JSON.stringify(type)} has no schema in ${directory}`];
      return validate(event) ? [] : (validate.errors ?? []).map(readable);
    },
  };
}
