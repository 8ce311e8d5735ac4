import { z } from 'zod';

/**
 * How much one worker holds and runs at once; Temporal's connection settings are in
 * temporal/connection.ts. The defaults come from `npm run bench:scale` (CONTRIBUTING.md).
 */
export interface WorkerSettings {
  /**
   * Workflows kept in memory between their tasks (Temporal's sticky cache). A rollout at a pause needs
   * none: one evicted is replayed from its history (a few dozen events) when its next task comes, so
   * the cache bounds the worker's memory rather than the rollouts it can hold. 0 turns it off.
   */
  workflowCacheSize: number;
  /**
   * Workflow tasks run at once; at most the cache size while there is a cache. They all run on one
   * thread, so a task taken but waiting behind too many others can outlast Temporal's ten-second
   * workflow task timeout and be run again: with 40, a thousand rollouts started together timed out
   * thousands of tasks on a busy two-core machine. A task left on the server costs nothing.
   */
  maxConcurrentWorkflowTasks: number;
  /** Activities run at once (Kubernetes reads and writes, Prometheus queries, webhooks). */
  maxConcurrentActivities: number;
}

export const WORKER_SETTING_DEFAULTS: WorkerSettings = {
  workflowCacheSize: 200,
  maxConcurrentWorkflowTasks: 10,
  maxConcurrentActivities: 100,
};

const wholeNumber = (what: string, example: number, min: number, max: number, fallback: number) =>
  z.preprocess(
    (value) =>
      typeof value === 'string' && value.trim() === ''
        ? undefined
        : value === undefined
          ? undefined
          : Number(value),
    z
      .number({ error: `must be a whole number of ${what}, such as ${example}` })
      .int(`must be a whole number of ${what}, such as ${example}`)
      .min(min, `must be at least ${min}`)
      .max(max, `must be at most ${max}`)
      .default(fallback),
  );

const WorkerEnvironmentSchema = z.object({
  SIIRTO_WORKFLOW_CACHE_SIZE: wholeNumber(
    'workflows',
    WORKER_SETTING_DEFAULTS.workflowCacheSize,
    0,
    100_000,
    WORKER_SETTING_DEFAULTS.workflowCacheSize,
  ).refine((size) => size !== 1, 'must be 0 (no cache) or at least 2: Temporal needs room for two workflows'),
  SIIRTO_MAX_CONCURRENT_WORKFLOW_TASKS: wholeNumber(
    'workflow tasks',
    WORKER_SETTING_DEFAULTS.maxConcurrentWorkflowTasks,
    2,
    10_000,
    WORKER_SETTING_DEFAULTS.maxConcurrentWorkflowTasks,
  ),
  SIIRTO_MAX_CONCURRENT_ACTIVITIES: wholeNumber(
    'activities',
    WORKER_SETTING_DEFAULTS.maxConcurrentActivities,
    1,
    10_000,
    WORKER_SETTING_DEFAULTS.maxConcurrentActivities,
  ),
});

export function workerSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): WorkerSettings {
  const parsed = WorkerEnvironmentSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')} ${issue.message}`);
    throw new WorkerSettingsError(`invalid worker settings in the environment: ${problems.join('; ')}`);
  }
  const cacheSize = parsed.data.SIIRTO_WORKFLOW_CACHE_SIZE;
  const tasksUnset = (env.SIIRTO_MAX_CONCURRENT_WORKFLOW_TASKS ?? '').trim() === '';
  const settings = {
    workflowCacheSize: cacheSize,
    // Unset, it follows a cache smaller than its default rather than refusing to start.
    maxConcurrentWorkflowTasks:
      tasksUnset && cacheSize > 0
        ? Math.min(parsed.data.SIIRTO_MAX_CONCURRENT_WORKFLOW_TASKS, cacheSize)
        : parsed.data.SIIRTO_MAX_CONCURRENT_WORKFLOW_TASKS,
    maxConcurrentActivities: parsed.data.SIIRTO_MAX_CONCURRENT_ACTIVITIES,
  };
  // Temporal would quietly lower it to the cache size; say so at start instead.
  if (settings.workflowCacheSize > 0 && settings.maxConcurrentWorkflowTasks > settings.workflowCacheSize) {
    throw new WorkerSettingsError(
      `invalid worker settings in the environment: SIIRTO_MAX_CONCURRENT_WORKFLOW_TASKS (${settings.maxConcurrentWorkflowTasks}) ` +
        `must not exceed SIIRTO_WORKFLOW_CACHE_SIZE (${settings.workflowCacheSize}): lower it, or raise the cache size`,
    );
  }
  return settings;
}

/** The Worker.create options these settings stand for. */
export function workerOptions(settings: WorkerSettings) {
  return {
    maxCachedWorkflows: settings.workflowCacheSize,
    maxConcurrentWorkflowTaskExecutions: settings.maxConcurrentWorkflowTasks,
    maxConcurrentActivityTaskExecutions: settings.maxConcurrentActivities,
  };
}

export class WorkerSettingsError extends Error {
  override name = 'WorkerSettingsError';
}
