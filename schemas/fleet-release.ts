import { z } from 'zod';
import { clusterIdSchema } from '../temporal/cluster-identity';
import { RolloutAnalysisSchema } from './analysis';
import { parseDuration } from './duration';
import { LabelSelectorSchema } from './rollout';

/**
 * A fleet release: one change to an app's pod template, rolled out to Rollouts in many clusters in
 * ordered waves with gates between them. It is a file the user keeps with the app's code and hands to
 * `siirto fleet apply`, not an object in a cluster: Temporal is the one plane every cluster's Siirto
 * already shares, so the release's state is its workflow and no management cluster is needed.
 *
 * What the release carries reaches the fleet workflow's input and history, so it must hold no secret:
 * a template patch refers to Secrets (`valueFrom.secretKeyRef`), never holds their values.
 */

/** Kubernetes object names (RFC 1123 subdomain, as a Rollout's name and namespace are). */
const objectName = z
  .string()
  .max(253)
  .regex(
    /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/,
    'must be a lowercase name of letters, digits, "-" and ".", such as checkout',
  );

const duration = (example: string) =>
  z
    .string()
    .refine((text) => (parseDuration(text) ?? 0) > 0, `must be a duration such as ${example}`)
    .meta({ description: `A duration such as ${example}.` });

/** `cluster/namespace/name`: one Rollout in one cluster. */
const TARGET_TEXT = /^([^/]+)\/([^/]+)\/([^/]+)$/;

export const FleetTargetSchema = z.union([
  z
    .string()
    .regex(TARGET_TEXT, 'must be cluster/namespace/name, such as prod-eu-1/shop/checkout')
    .transform((text, context) => {
      const [, cluster = '', namespace = '', name = ''] = TARGET_TEXT.exec(text) ?? [];
      for (const [field, value, schema] of [
        ['cluster', cluster, clusterIdSchema],
        ['namespace', namespace, objectName],
        ['name', name, objectName],
      ] as const) {
        const checked = schema.safeParse(value);
        if (!checked.success) {
          context.addIssue({
            code: 'custom',
            message: `${field} ${JSON.stringify(value)} ${checked.error.issues[0]?.message ?? 'is not valid'}`,
          });
        }
      }
      return { cluster, namespace, name };
    }),
  z
    .object({
      cluster: clusterIdSchema,
      namespace: objectName,
      name: objectName.optional(),
      selector: LabelSelectorSchema.optional(),
    })
    .strict()
    .superRefine((target, context) => {
      if ((target.name === undefined) === (target.selector === undefined)) {
        context.addIssue({
          code: 'custom',
          message: 'needs either name (one Rollout) or selector (the Rollouts with these labels), not both',
        });
      }
    }),
]);

export const WaveGatesSchema = z
  .object({
    soak: duration('10m').optional().meta({
      description: 'How long every Rollout of the wave must have been Healthy before the next wave.',
    }),
    analysis: RolloutAnalysisSchema.optional().meta({
      description:
        'Measured in each cluster of the wave, by its worker, with the analysis templates of the ' +
        "Rollout's namespace there: its own Prometheus, or one a template names.",
    }),
    approval: z
      .boolean()
      .default(false)
      .meta({ description: 'Wait for `siirto fleet approve` before the next wave.' }),
  })
  .strict();

export const WaveSchema = z
  .object({
    name: objectName.optional(),
    maxParallel: z
      .number({ error: 'must be a whole number of Rollouts, such as 1' })
      .int('must be a whole number of Rollouts, such as 1')
      .min(1, 'must be at least 1')
      .default(1)
      .meta({ description: 'Rollouts of the wave in flight at once.' }),
    targets: z.array(FleetTargetSchema).min(1, 'needs at least one target, such as prod-eu-1/shop/checkout'),
    gates: WaveGatesSchema.optional().meta({
      description: 'What must hold after this wave before the next.',
    }),
  })
  .strict();

export const WEEKDAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

const CLOCK = /^([01]\d|2[0-3]):([0-5]\d)$|^24:00$/;
const clock = z.string().regex(CLOCK, 'must be a time of day HH:MM, such as 09:00 (24:00 for midnight)');

/** Whether the runtime knows this IANA time zone. */
function knownTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

export const TimeWindowSchema = z
  .object({
    days: z
      .array(z.enum(WEEKDAYS, { error: `must be one of ${WEEKDAYS.join(', ')}` }))
      .min(1, 'needs at least one day, such as [Mon, Tue, Wed, Thu, Fri]')
      .default([...WEEKDAYS]),
    start: clock,
    end: clock,
    timeZone: z
      .string()
      .refine(knownTimeZone, 'must be an IANA time zone, such as Europe/Helsinki or UTC')
      .default('UTC'),
  })
  .strict()
  .superRefine((window, context) => {
    if (window.start === '24:00' || window.end <= window.start) {
      context.addIssue({
        code: 'custom',
        path: ['end'],
        message: `must be later than start (${window.start}) on the same day, such as 16:00`,
      });
    }
  });

export const FleetReleaseSpecSchema = z
  .object({
    app: objectName.meta({
      description: 'The app this release changes: one release of an app runs at a time.',
    }),
    change: z
      .object({
        images: z
          .record(z.string().min(1), z.string().min(1))
          .optional()
          .meta({ description: 'New image per container name, such as {checkout: registry/checkout:2.1}.' }),
        templatePatch: z.record(z.string(), z.unknown()).optional().meta({
          description: "A JSON merge patch (RFC 7386) of each Rollout's spec.template; no secret values.",
        }),
      })
      .strict()
      .refine(
        (change) => Object.keys(change.images ?? {}).length > 0 || change.templatePatch !== undefined,
        'needs images (container: image) or a templatePatch',
      ),
    waves: z.array(WaveSchema).min(1, 'needs at least one wave').max(50),
    windows: z
      .array(TimeWindowSchema)
      .default([])
      .meta({ description: 'When Rollouts may start; none: any time.' }),
    abortOnDegraded: z
      .boolean()
      .default(true)
      .meta({ description: 'A Rollout ending Degraded aborts the whole release.' }),
    rollback: z
      .enum(['none', 'completedWaves'], { error: 'must be none or completedWaves' })
      .default('none')
      .meta({
        description: 'On abort, completedWaves puts the previous template back where it went Healthy.',
      }),
  })
  .strict()
  .superRefine((spec, context) => {
    const seen = new Map<string, string>();
    spec.waves.forEach((wave, waveIndex) =>
      wave.targets.forEach((target, targetIndex) => {
        if (!('name' in target) || target.name === undefined) return;
        const key = `${target.cluster}/${target.namespace}/${target.name}`;
        const where = `waves[${waveIndex}].targets[${targetIndex}]`;
        const first = seen.get(key);
        if (first !== undefined) {
          context.addIssue({
            code: 'custom',
            path: ['waves', waveIndex, 'targets', targetIndex],
            message: `names ${key} again (first at ${first}): a Rollout belongs to one wave; remove one`,
          });
        } else seen.set(key, where);
      }),
    );
  });

export const FleetReleaseSchema = z
  .object({
    apiVersion: z.literal('siirto.dev/v1alpha1', { error: 'must be siirto.dev/v1alpha1' }),
    kind: z.literal('FleetRelease', { error: 'must be FleetRelease' }),
    metadata: z.object({ name: objectName }).loose(),
    spec: FleetReleaseSpecSchema,
  })
  .strict();

export type FleetRelease = z.infer<typeof FleetReleaseSchema>;
export type FleetReleaseSpec = z.infer<typeof FleetReleaseSpecSchema>;
export type FleetTarget = z.infer<typeof FleetTargetSchema>;
export type Wave = z.infer<typeof WaveSchema>;
export type WaveGates = z.infer<typeof WaveGatesSchema>;
export type TimeWindow = z.infer<typeof TimeWindowSchema>;

/** A release file that does not hold: every problem, named by field with its fix. */
export class FleetReleaseError extends Error {
  override name = 'FleetReleaseError';
  constructor(readonly problems: string[]) {
    super(`invalid fleet release: ${problems.join('; ')}`);
  }
}

/** The release a file holds, parsed and checked, or a FleetReleaseError naming each field to fix. */
export function parseFleetRelease(document: unknown): FleetRelease {
  const parsed = FleetReleaseSchema.safeParse(document);
  if (parsed.success) return parsed.data;
  throw new FleetReleaseError(parsed.error.issues.map((issue) => describeIssue(issue)));
}

function describeIssue(issue: z.core.$ZodIssue, parentPath: PropertyKey[] = []): string {
  const path = [...parentPath, ...issue.path];
  const field = path
    .map((part, index) =>
      typeof part === 'number' ? `[${part}]` : `${index === 0 ? '' : '.'}${String(part)}`,
    )
    .join('');
  if (issue.code === 'unrecognized_keys') {
    return `${field || 'the release'} has unknown field ${issue.keys.join(', ')}: remove it or check its spelling`;
  }
  if (issue.code === 'invalid_union') {
    // A target is text or an object: report the branch of the form the user wrote.
    const branch = issue.errors.find(
      (issues) => !issues.some((inner) => inner.code === 'invalid_type' && inner.path.length === 0),
    );
    if (branch?.[0]) return describeIssue(branch[0], path);
    return `${field} must be cluster/namespace/name (such as prod-eu-1/shop/checkout) or {cluster, namespace, name | selector}`;
  }
  if (issue.code === 'invalid_type' && issue.input === undefined) return `${field} is required`;
  return `${field || 'the release'} ${issue.message}`;
}
