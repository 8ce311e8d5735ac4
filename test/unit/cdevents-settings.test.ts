import {
  cdEventsSettingsFromEnv,
  CDEventsSettingsError,
  describeCDEventsSettings,
} from '../../activities/cdevents-settings';

const context = { temporalNamespace: 'rollouts' };
const read = (env: NodeJS.ProcessEnv) => cdEventsSettingsFromEnv(context, env);

describe('CDEvents settings from the environment', () => {
  it('turns emission off when no sink is set, with the documented defaults', () => {
    expect(read({})).toEqual({
      sinkUrl: undefined,
      mode: 'binary',
      headers: {},
      retryForMs: 60_000,
      origin: { clusterId: 'local', temporalNamespace: 'rollouts', webUiUrl: undefined },
    });
    expect(read({ SIIRTO_CDEVENTS_SINK_URL: '' }).sinkUrl).toBeUndefined();
  });

  it('reads every setting, the token becoming a bearer Authorization header', () => {
    const settings = read({
      SIIRTO_CDEVENTS_SINK_URL: 'https://events.example.com/ingest',
      SIIRTO_CDEVENTS_MODE: 'structured',
      SIIRTO_CDEVENTS_HEADERS: '{"X-Api-Key":"k-123","X-Team":"payments"}',
      // A token read from a mounted Secret often ends with a newline.
      SIIRTO_CDEVENTS_AUTH_TOKEN: 's3cret\n',
      SIIRTO_CLUSTER_ID: 'prod-eu-1',
      SIIRTO_CDEVENTS_RETRY_FOR: '2m30s',
      SIIRTO_TEMPORAL_UI_URL: 'https://temporal.example.com',
    });
    expect(settings).toEqual({
      sinkUrl: 'https://events.example.com/ingest',
      mode: 'structured',
      headers: { 'x-api-key': 'k-123', 'x-team': 'payments', authorization: 'Bearer s3cret' },
      retryForMs: 150_000,
      origin: {
        clusterId: 'prod-eu-1',
        temporalNamespace: 'rollouts',
        webUiUrl: 'https://temporal.example.com',
      },
    });
  });

  it.each([
    [{ SIIRTO_CDEVENTS_SINK_URL: 'events.example.com' }, 'SIIRTO_CDEVENTS_SINK_URL is not a URL'],
    [
      { SIIRTO_CDEVENTS_SINK_URL: 'ftp://events.example.com' },
      'SIIRTO_CDEVENTS_SINK_URL must be an http:// or https:// URL',
    ],
    [
      { SIIRTO_CDEVENTS_SINK_URL: 'https://user:pw@events.example.com' },
      'SIIRTO_CDEVENTS_SINK_URL must not carry credentials',
    ],
    [{ SIIRTO_CDEVENTS_MODE: 'batch' }, 'SIIRTO_CDEVENTS_MODE must be binary or structured'],
    [{ SIIRTO_CDEVENTS_HEADERS: '["X-Api-Key"]' }, 'SIIRTO_CDEVENTS_HEADERS is not a JSON object'],
    [
      { SIIRTO_CDEVENTS_HEADERS: '{"X-Api-Key": 7}' },
      'SIIRTO_CDEVENTS_HEADERS gives X-Api-Key a value that is not a one-line string',
    ],
    [
      { SIIRTO_CDEVENTS_HEADERS: '{"ce-id":"x"}' },
      'SIIRTO_CDEVENTS_HEADERS sets ce-id, which the CloudEvents binding writes itself',
    ],
    [
      { SIIRTO_CDEVENTS_HEADERS: '{"bad name":"x"}' },
      'SIIRTO_CDEVENTS_HEADERS has "bad name", which is not a header name',
    ],
    [
      { SIIRTO_CDEVENTS_HEADERS: '{"Authorization":"Basic x"}', SIIRTO_CDEVENTS_AUTH_TOKEN: 't' },
      'SIIRTO_CDEVENTS_HEADERS sets Authorization, and so does SIIRTO_CDEVENTS_AUTH_TOKEN',
    ],
    [{ SIIRTO_CDEVENTS_AUTH_TOKEN: 'Bearer abc' }, 'SIIRTO_CDEVENTS_AUTH_TOKEN must be the bare token'],
    [{ SIIRTO_CLUSTER_ID: 'prod/eu' }, 'SIIRTO_CLUSTER_ID must be a name of letters, digits'],
    [
      { SIIRTO_CDEVENTS_RETRY_FOR: '1 minute' },
      'SIIRTO_CDEVENTS_RETRY_FOR must be a positive duration such as 30s or 2m',
    ],
    [{ SIIRTO_CDEVENTS_RETRY_FOR: '0s' }, 'SIIRTO_CDEVENTS_RETRY_FOR must be a positive duration'],
    [
      { SIIRTO_TEMPORAL_UI_URL: 'temporal:8233' },
      'SIIRTO_TEMPORAL_UI_URL must be an http:// or https:// URL',
    ],
  ])('refuses %j with a message naming the variable and the fix', (env, message) => {
    expect(() => read(env)).toThrow(CDEventsSettingsError);
    expect(() => read(env)).toThrow(message);
  });

  it('never repeats a secret in its messages', () => {
    const env = {
      SIIRTO_CDEVENTS_HEADERS: '{"X-Api-Key": "very-secret-value", oops}',
      SIIRTO_CDEVENTS_AUTH_TOKEN: 'another secret',
      SIIRTO_CDEVENTS_SINK_URL: 'https://user:hidden-password@events.example.com',
    };
    let message = '';
    try {
      read(env);
    } catch (error) {
      message = String(error);
    }
    expect(message).toContain('SIIRTO_CDEVENTS_HEADERS is not valid JSON');
    for (const secret of ['very-secret-value', 'another secret', 'hidden-password']) {
      expect(message).not.toContain(secret);
    }
  });

  it('describes itself for a log line with header names only', () => {
    const settings = read({
      SIIRTO_CDEVENTS_SINK_URL: 'https://events.example.com/ingest?key=secret-in-query',
      SIIRTO_CDEVENTS_AUTH_TOKEN: 'tok3n',
    });
    const described = JSON.stringify(describeCDEventsSettings(settings));
    expect(described).toContain('https://events.example.com/ingest');
    expect(described).toContain('authorization');
    expect(described).not.toContain('tok3n');
    expect(described).not.toContain('secret-in-query');
    expect(describeCDEventsSettings(read({}))).toEqual({ cdEvents: 'off' });
  });
});
