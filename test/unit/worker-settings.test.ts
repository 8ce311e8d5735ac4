import { workerOptions, workerSettingsFromEnv, WORKER_SETTING_DEFAULTS } from '../../worker/worker-settings';

describe('worker settings from the environment', () => {
  it('holds at most 200 workflows in its cache and runs 10 workflow tasks and 100 activities at once unless set', () => {
    expect(workerSettingsFromEnv({})).toEqual({
      workflowCacheSize: 200,
      maxConcurrentWorkflowTasks: 10,
      maxConcurrentActivities: 100,
    });
    expect(workerSettingsFromEnv({ SIIRTO_WORKFLOW_CACHE_SIZE: ' ' })).toEqual(WORKER_SETTING_DEFAULTS);
  });

  it('takes each setting from its variable and hands it to Temporal as the matching worker option', () => {
    const settings = workerSettingsFromEnv({
      SIIRTO_WORKFLOW_CACHE_SIZE: '1000',
      SIIRTO_MAX_CONCURRENT_WORKFLOW_TASKS: '80',
      SIIRTO_MAX_CONCURRENT_ACTIVITIES: '250',
    });
    expect(workerOptions(settings)).toEqual({
      maxCachedWorkflows: 1000,
      maxConcurrentWorkflowTaskExecutions: 80,
      maxConcurrentActivityTaskExecutions: 250,
    });
  });

  it('runs no more workflow tasks at once than a smaller cache holds when the task limit is not set', () => {
    expect(workerSettingsFromEnv({ SIIRTO_WORKFLOW_CACHE_SIZE: '4' })).toMatchObject({
      workflowCacheSize: 4,
      maxConcurrentWorkflowTasks: 4,
    });
  });

  it('turns the cache off with 0, which leaves the workflow task limit free of it', () => {
    const settings = workerSettingsFromEnv({
      SIIRTO_WORKFLOW_CACHE_SIZE: '0',
      SIIRTO_MAX_CONCURRENT_WORKFLOW_TASKS: '50',
    });
    expect(settings).toMatchObject({ workflowCacheSize: 0, maxConcurrentWorkflowTasks: 50 });
  });

  it.each([
    [
      { SIIRTO_WORKFLOW_CACHE_SIZE: 'lots' },
      'SIIRTO_WORKFLOW_CACHE_SIZE must be a whole number of workflows, such as 200',
    ],
    [{ SIIRTO_WORKFLOW_CACHE_SIZE: '1' }, 'SIIRTO_WORKFLOW_CACHE_SIZE must be 0 (no cache) or at least 2'],
    [{ SIIRTO_WORKFLOW_CACHE_SIZE: '-5' }, 'SIIRTO_WORKFLOW_CACHE_SIZE must be at least 0'],
    [
      { SIIRTO_MAX_CONCURRENT_WORKFLOW_TASKS: '1' },
      'SIIRTO_MAX_CONCURRENT_WORKFLOW_TASKS must be at least 2',
    ],
    [
      { SIIRTO_MAX_CONCURRENT_ACTIVITIES: '2.5' },
      'SIIRTO_MAX_CONCURRENT_ACTIVITIES must be a whole number of activities, such as 100',
    ],
    [{ SIIRTO_MAX_CONCURRENT_ACTIVITIES: '0' }, 'SIIRTO_MAX_CONCURRENT_ACTIVITIES must be at least 1'],
    [
      { SIIRTO_WORKFLOW_CACHE_SIZE: '10', SIIRTO_MAX_CONCURRENT_WORKFLOW_TASKS: '40' },
      'SIIRTO_MAX_CONCURRENT_WORKFLOW_TASKS (40) must not exceed SIIRTO_WORKFLOW_CACHE_SIZE (10): lower it, or raise the cache size',
    ],
  ])('refuses %j at start, naming the setting and the fix', (env, message) => {
    expect(() => workerSettingsFromEnv(env)).toThrow(message);
  });
});
