import { bridgeSettingsFromEnv } from '../../k8s-bridge/bridge-settings';
import { parseCommandRequest } from '../../k8s-bridge/http-command-request';

describe('a command sent to the bridge over HTTP', () => {
  it.each([
    [{ requestId: 'deploy-4711-promote', command: 'promote' }],
    [{ requestId: 'deploy-4711-promote-full', command: 'promote', full: true, by: 'alice' }],
    [{ requestId: 'deploy-4711-abort', command: 'abort', reason: 'error budget burnt' }],
    [{ requestId: 'deploy-4711-retry', command: 'retry' }],
    [{ requestId: 'experiment-88:weight.0_a', command: 'setWeight', weight: 0 }],
    [{ requestId: 'experiment-88-weight-100', command: 'setWeight', weight: 100 }],
  ])('reads %j as it is written', (body) => {
    expect(parseCommandRequest(JSON.stringify(body))).toEqual({ ok: true, request: body });
  });

  it.each([
    ['{"requestId": "a", ', /^the body is not JSON \(.+\); send an object such as \{"requestId"/],
    ['[1]', /^the body must be a JSON object such as/],
    ['{"command": "promote"}', /^requestId: is required: a string of your own that names this request/],
    ['{"requestId": "", "command": "promote"}', /^requestId: must not be empty/],
    ['{"requestId": "a b", "command": "promote"}', /^requestId: may hold only letters, digits/],
    [
      `{"requestId": "${'a'.repeat(129)}", "command": "promote"}`,
      /^requestId: must be at most 128 characters$/,
    ],
    ['{"requestId": "a"}', /^command: must be one of promote, abort, retry, setWeight$/],
    [
      '{"requestId": "a", "command": "rollback"}',
      /^command: must be one of promote, abort, retry, setWeight$/,
    ],
    [
      '{"requestId": "a", "command": "promote", "full": "yes"}',
      /^full: must be true \(skip every remaining step\) or false$/,
    ],
    ['{"requestId": "a", "command": "abort", "reason": 3}', /^reason: must be a string saying why/],
    ['{"requestId": "a", "command": "setWeight"}', /^weight: is required: the canary's share of traffic/],
    [
      '{"requestId": "a", "command": "setWeight", "weight": 101}',
      /^weight: must be a whole number from 0 to 100$/,
    ],
    [
      '{"requestId": "a", "command": "setWeight", "weight": -1}',
      /^weight: must be a whole number from 0 to 100$/,
    ],
    [
      '{"requestId": "a", "command": "setWeight", "weight": 12.5}',
      /^weight: must be a whole number from 0 to 100$/,
    ],
    ['{"requestId": "a", "command": "setWeight", "weight": "30"}', /^weight: is required/],
    [
      '{"requestId": "a", "command": "retry", "weight": 30}',
      /^weight: is not a field of this command; remove it/,
    ],
    [
      '{"requestId": "a", "command": "promote", "by": ""}',
      /^by: must not be empty; leave it out, or name who asks$/,
    ],
    ['{"requestId": "a", "command": "promote", "by": "a\\nb"}', /^by: must not hold control characters$/],
  ])('refuses %s, naming the field and the fix', (body, problem) => {
    const parsed = parseCommandRequest(body);
    expect(parsed.ok).toBe(false);
    expect(!parsed.ok && parsed.problem).toMatch(problem);
  });
});

describe('the HTTP command endpoint settings', () => {
  it('are off without a token Secret, and bind loopback on 9470 unless told otherwise', () => {
    expect(bridgeSettingsFromEnv({}).commands).toEqual({ address: '127.0.0.1', port: 9470 });
    expect(
      bridgeSettingsFromEnv({
        SIIRTO_COMMANDS_TOKEN_SECRET: 'siirto-system/siirto-command-tokens',
        SIIRTO_COMMANDS_ADDRESS: '0.0.0.0',
        SIIRTO_COMMANDS_PORT: '0',
      }).commands,
    ).toEqual({
      tokenSecret: { namespace: 'siirto-system', name: 'siirto-command-tokens' },
      address: '0.0.0.0',
      port: 0,
    });
  });

  it.each([
    ['SIIRTO_COMMANDS_TOKEN_SECRET', 'siirto-command-tokens', 'must name the Secret as NAMESPACE/NAME'],
    ['SIIRTO_COMMANDS_ADDRESS', 'localhost', 'must be an IP address such as 127.0.0.1, or 0.0.0.0 for all'],
    ['SIIRTO_COMMANDS_PORT', '70000', 'must be between 0 and 65535, such as 9470'],
  ])('refuses %s=%s, naming it and the fix', (variable, value, message) => {
    expect(() => bridgeSettingsFromEnv({ [variable]: value })).toThrow(`${variable} ${message}`);
  });
});
