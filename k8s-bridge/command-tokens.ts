import * as k8s from '@kubernetes/client-node';
import { createHash, timingSafeEqual } from 'node:crypto';
import { apiMessage, apiStatus, isNotFound } from '../kubernetes/errors';
import type { Logger } from '../observability/log';

/**
 * The bearer tokens of the HTTP command endpoint, from one Kubernetes Secret: each data key names a
 * client (`release-pipeline`), its value is that client's token. The Secret is read through the
 * apiserver and watched, so a rotated or added token works at once, without a restart. Tokens are
 * never logged: only the client names are.
 */

/** Shorter tokens are ignored (with a warning naming the key): they are guessable. */
export const MIN_TOKEN_LENGTH = 16;

interface Client {
  name: string;
  /** SHA-256 of the token: equal lengths for the constant-time comparison, and no token kept in the clear. */
  digest: Buffer;
}

export interface SecretRef {
  namespace: string;
  name: string;
}

export class CommandTokens {
  private clients: Client[] = [];
  private stopped = false;
  private watchRequest: AbortController | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private failures = 0;

  constructor(
    private readonly config: k8s.KubeConfig,
    readonly secret: SecretRef,
    private readonly log: Logger,
  ) {}

  get described(): string {
    return `${this.secret.namespace}/${this.secret.name}`;
  }

  /** Client names with a usable token, for the endpoint to say whether it takes any request at all. */
  clientNames(): string[] {
    return this.clients.map((client) => client.name);
  }

  /**
   * The client whose token the Authorization header carries, or undefined. Every client's digest is
   * compared, in constant time, whatever matched before: the answer's timing tells nothing of a token.
   */
  authenticate(authorization: string | undefined): string | undefined {
    const match = /^Bearer +(\S+) *$/i.exec(authorization ?? '');
    if (!match?.[1]) return undefined;
    const offered = digest(match[1]);
    let found: string | undefined;
    for (const client of this.clients) {
      if (timingSafeEqual(offered, client.digest) && found === undefined) found = client.name;
    }
    return found;
  }

  /** Reads the Secret, then keeps watching it; resolves after the first read, whatever it found. */
  async start(): Promise<void> {
    await this.readAndWatch();
  }

  stop(): void {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.watchRequest?.abort();
  }

  private async readAndWatch(): Promise<void> {
    if (this.stopped) return;
    const { namespace, name } = this.secret;
    try {
      let resourceVersion: string | undefined;
      try {
        const secret = await this.config
          .makeApiClient(k8s.CoreV1Api)
          .readNamespacedSecret({ namespace, name });
        resourceVersion = secret.metadata?.resourceVersion;
        this.load(secret);
      } catch (error) {
        if (!isNotFound(error)) throw error;
        this.load(undefined);
      }
      // A watch of the one Secret, from the version read: `resourceNames` in RBAC allows it by name.
      this.watchRequest = await new k8s.Watch(this.config).watch(
        `/api/v1/namespaces/${namespace}/secrets`,
        { fieldSelector: `metadata.name=${name}`, resourceVersion, allowWatchBookmarks: false },
        (phase, object: k8s.V1Secret) => {
          this.failures = 0;
          this.load(phase === 'DELETED' ? undefined : object);
        },
        (error: unknown) => {
          // The apiserver ends every watch after a while: read again and watch on.
          if (error && !this.stopped)
            this.log.info('the token Secret watch ended; watching again', { error: String(error) });
          this.again(error ? 1_000 : 0);
        },
      );
    } catch (error) {
      this.failures += 1;
      const status = apiStatus(error);
      const hint =
        status === 403
          ? `; let the bridge's service account get, list and watch Secret ${this.described} (deploy/base/rbac/bridge.yaml)`
          : '';
      this.log.warn(`cannot read the command token Secret ${this.described}${hint}`, {
        error: apiMessage(error),
        failures: this.failures,
      });
      this.again(Math.min(30_000, 1_000 * 2 ** (this.failures - 1)));
    }
  }

  private again(delayMs: number): void {
    if (this.stopped) return;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.readAndWatch();
    }, delayMs);
  }

  private load(secret: k8s.V1Secret | undefined): void {
    const clients: Client[] = [];
    const ignored: string[] = [];
    for (const [name, encoded] of Object.entries(secret?.data ?? {})) {
      // A token written to a file usually ends with a newline: it is not part of the token.
      const token = Buffer.from(encoded, 'base64').toString('utf8').trim();
      if (token.length < MIN_TOKEN_LENGTH) ignored.push(name);
      else clients.push({ name, digest: digest(token) });
    }
    this.clients = clients;
    if (ignored.length > 0) {
      this.log.warn(
        `command tokens shorter than ${MIN_TOKEN_LENGTH} characters are ignored; make them longer, such as ` +
          '`openssl rand -hex 32`',
        { secret: this.described, clients: ignored },
      );
    }
    if (clients.length === 0) {
      this.log.warn(
        `HTTP commands disabled: Secret ${this.described} ${secret ? 'holds no usable token' : 'does not exist'}; ` +
          'every command is refused until it has one (docs/http-commands.md)',
      );
    } else {
      // Every version read is said, so a rotation shows in the log (by client name and version only).
      this.log.info('command tokens read', {
        secret: this.described,
        resourceVersion: secret?.metadata?.resourceVersion,
        clients: this.clientNames(),
      });
    }
  }
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}
