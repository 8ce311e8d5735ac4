import { bridgeSettingsFromEnv } from '../../k8s-bridge/bridge-settings';

describe('bridge settings from the environment', () => {
  it("leaves the workflows' own history limits unless SIIRTO_WORKFLOW_HISTORY_LIMIT sets one", () => {
    expect(bridgeSettingsFromEnv({}).workflowHistoryLimit).toBeUndefined();
    expect(bridgeSettingsFromEnv({ SIIRTO_WORKFLOW_HISTORY_LIMIT: '' }).workflowHistoryLimit).toBeUndefined();
    expect(bridgeSettingsFromEnv({ SIIRTO_WORKFLOW_HISTORY_LIMIT: '500' }).workflowHistoryLimit).toBe(500);
  });

  it.each([
    ['many', 'SIIRTO_WORKFLOW_HISTORY_LIMIT must be a whole number of history events, such as 2000'],
    ['20', 'SIIRTO_WORKFLOW_HISTORY_LIMIT must be at least 100 events'],
    ['20000', 'SIIRTO_WORKFLOW_HISTORY_LIMIT must be at most 10000 events'],
  ])('refuses SIIRTO_WORKFLOW_HISTORY_LIMIT=%s, naming it and the fix', (value, message) => {
    expect(() => bridgeSettingsFromEnv({ SIIRTO_WORKFLOW_HISTORY_LIMIT: value })).toThrow(message);
  });
});

describe('the pace of the resync', () => {
  it('reconciles at most 10 Rollouts a second in a resync unless SIIRTO_RESYNC_PER_SECOND says otherwise', () => {
    expect(bridgeSettingsFromEnv({}).resyncPerSecond).toBe(10);
    expect(bridgeSettingsFromEnv({ SIIRTO_RESYNC_PER_SECOND: '' }).resyncPerSecond).toBe(10);
    expect(bridgeSettingsFromEnv({ SIIRTO_RESYNC_PER_SECOND: '50' }).resyncPerSecond).toBe(50);
  });

  it.each([
    ['fast', 'SIIRTO_RESYNC_PER_SECOND must be a whole number of Rollouts a second, such as 10'],
    ['0', 'SIIRTO_RESYNC_PER_SECOND must be at least 1 Rollout a second'],
    ['2.5', 'SIIRTO_RESYNC_PER_SECOND must be a whole number of Rollouts a second, such as 10'],
    ['5000', 'SIIRTO_RESYNC_PER_SECOND must be at most 1000 Rollouts a second'],
  ])('refuses SIIRTO_RESYNC_PER_SECOND=%s, naming it and the fix', (value, message) => {
    expect(() => bridgeSettingsFromEnv({ SIIRTO_RESYNC_PER_SECOND: value })).toThrow(message);
  });
});
