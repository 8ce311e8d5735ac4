import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  temporalConnectionOptions,
  temporalSettingsFromEnv,
  TemporalSettingsError,
} from '../../temporal/connection';

describe('Temporal settings from the environment', () => {
  let directory: string;
  beforeAll(() => {
    directory = mkdtempSync(path.join(tmpdir(), 'siirto-tls-'));
  });
  afterAll(() => rmSync(directory, { recursive: true, force: true }));

  it('defaults to a local dev server on the rollout and fleet task queues, without TLS', () => {
    expect(temporalSettingsFromEnv({})).toEqual({
      address: '127.0.0.1:7233',
      namespace: 'default',
      taskQueue: 'siirto-rollouts',
      fleetTaskQueue: 'siirto-fleet',
      tls: undefined,
      apiKey: undefined,
    });
    expect(temporalConnectionOptions(temporalSettingsFromEnv({ TEMPORAL_ADDRESS: '' }))).toEqual({
      address: '127.0.0.1:7233',
      apiKey: undefined,
    });
  });

  it('keeps a fleet apart on the queue SIIRTO_FLEET_TASK_QUEUE names', () => {
    expect(temporalSettingsFromEnv({ SIIRTO_FLEET_TASK_QUEUE: 'fleet-staging' }).fleetTaskQueue).toBe(
      'fleet-staging',
    );
    expect(temporalSettingsFromEnv({ SIIRTO_FLEET_TASK_QUEUE: '' }).fleetTaskQueue).toBe('siirto-fleet');
  });

  it('names a malformed address and shows the form it takes', () => {
    expect(() => temporalSettingsFromEnv({ TEMPORAL_ADDRESS: 'http://temporal:7233' })).toThrow(
      'TEMPORAL_ADDRESS must be host:port, such as 127.0.0.1:7233 or temporal.example:7233',
    );
  });

  it('wants a client certificate and its key together', () => {
    const attempt = () => temporalSettingsFromEnv({ TEMPORAL_TLS_CERT: '/etc/temporal/tls.crt' });
    expect(attempt).toThrow(TemporalSettingsError);
    expect(attempt).toThrow(/TEMPORAL_TLS_KEY is needed with its partner: .* set both, or neither/);
  });

  it('turns TLS on for an API key, which never travels in the clear', () => {
    const settings = temporalSettingsFromEnv({
      TEMPORAL_API_KEY: 'secret',
      TEMPORAL_ADDRESS: 'ns.tmprl.cloud:7233',
    });
    expect(settings.tls).toBeDefined();
    expect(temporalConnectionOptions(settings)).toEqual({
      address: 'ns.tmprl.cloud:7233',
      tls: { serverNameOverride: undefined },
      apiKey: 'secret',
    });
  });

  it('reads the certificate files for mTLS and names a file it cannot read', () => {
    for (const file of ['tls.crt', 'tls.key', 'ca.crt'])
      writeFileSync(path.join(directory, file), `PEM ${file}`);
    const settings = temporalSettingsFromEnv({
      TEMPORAL_ADDRESS: 'temporal.example:7233',
      TEMPORAL_NAMESPACE: 'rollouts',
      SIIRTO_TASK_QUEUE: 'rollouts-eu',
      TEMPORAL_TLS_CERT: path.join(directory, 'tls.crt'),
      TEMPORAL_TLS_KEY: path.join(directory, 'tls.key'),
      TEMPORAL_TLS_CA: path.join(directory, 'ca.crt'),
      TEMPORAL_TLS_SERVER_NAME: 'temporal.internal',
    });
    expect(settings).toMatchObject({ namespace: 'rollouts', taskQueue: 'rollouts-eu' });
    const options = temporalConnectionOptions(settings);
    expect(options.tls?.serverNameOverride).toBe('temporal.internal');
    expect(options.tls?.clientCertPair?.crt.toString()).toBe('PEM tls.crt');
    expect(options.tls?.clientCertPair?.key.toString()).toBe('PEM tls.key');
    expect(options.tls?.serverRootCACertificate?.toString()).toBe('PEM ca.crt');

    const missing = temporalSettingsFromEnv({ TEMPORAL_TLS_CA: path.join(directory, 'absent.crt') });
    expect(() => temporalConnectionOptions(missing)).toThrow(
      /^TEMPORAL_TLS_CA=.*absent\.crt cannot be read .*; point it at a readable PEM file$/,
    );
  });
});
