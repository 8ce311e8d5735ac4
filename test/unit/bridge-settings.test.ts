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
