import { HTTP, type CloudEventV1 } from 'cloudevents';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { waitFor } from '../harness/wait';

/**
 * A CloudEvents sink for tests: a real HTTP server on a free local port that reads events in binary
 * and structured mode back with the cloudevents SDK and keeps them in arrival order. It can be told to
 * answer with an error for a while, as a sink that is down does, or be closed altogether.
 */

export type ContentMode = 'binary' | 'structured';

/** One HTTP request, accepted or not. */
export interface SinkRequest {
  /** The CloudEvent's id, when the request carried a readable event. */
  eventId?: string;
  mode?: ContentMode;
  /** What the sink answered. */
  status: number;
  headers: IncomingHttpHeaders;
  /** Why the request carried no readable event. */
  problem?: string;
}

/** An event the sink accepted. */
export interface ReceivedEvent {
  cloudEvent: CloudEventV1<unknown>;
  /** The CloudEvent's data: the CDEvent. */
  data: unknown;
  mode: ContentMode;
  headers: IncomingHttpHeaders;
}

function contentModeOf(headers: IncomingHttpHeaders): ContentMode {
  return (headers['content-type'] ?? '').startsWith('application/cloudevents+json') ? 'structured' : 'binary';
}

export class CDEventsSink {
  /** Every request in arrival order, refused ones too. */
  readonly requests: SinkRequest[] = [];
  /** The events the sink accepted, in arrival order. */
  readonly events: ReceivedEvent[] = [];
  private refusals: { status: number; remaining: number } = { status: 503, remaining: 0 };
  /** Answers kept back while the sink holds them: the events are in, the sender does not know yet. */
  private heldAnswers: (() => void)[] | undefined;

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(): Promise<CDEventsSink> {
    let sink: CDEventsSink | undefined = undefined;
    const server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const { status, body } = sink!.receive(request.headers, Buffer.concat(chunks).toString('utf8'));
        response.statusCode = status;
        if (sink!.heldAnswers) sink!.heldAnswers.push(() => response.end(body));
        else response.end(body);
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    sink = new CDEventsSink(server, `http://127.0.0.1:${port}/events`);
    return sink;
  }

  /** Answers the next `count` requests with `status` (503 by default), as a sink that is down. */
  refuseNext(count: number, status = 503): void {
    this.refusals = { status, remaining: count };
  }

  /** Answers every request with `status` until `comeBack()`. */
  goDown(status = 503): void {
    this.refuseNext(Number.POSITIVE_INFINITY, status);
  }

  comeBack(): void {
    this.refusals = { status: 503, remaining: 0 };
  }

  /** Takes events in but keeps the answers back, so a sender dying meanwhile never learns of them. */
  holdAnswers(): void {
    this.heldAnswers ??= [];
  }

  releaseAnswers(): void {
    const held = this.heldAnswers ?? [];
    this.heldAnswers = undefined;
    for (const answer of held) answer();
  }

  /** Waits until `count` events arrived and returns them. */
  waitForEvents(count: number, timeoutMs = 10_000): Promise<ReceivedEvent[]> {
    return waitFor(
      `${count} CloudEvents at the sink`,
      () => this.events.length >= count && this.events.slice(0, count),
      { timeoutMs, intervalMs: 20 },
    );
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private receive(headers: IncomingHttpHeaders, body: string): { status: number; body: string } {
    const mode = contentModeOf(headers);
    let cloudEvent: CloudEventV1<unknown>;
    try {
      const parsed = HTTP.toEvent<unknown>({ headers, body });
      if (Array.isArray(parsed)) throw new Error('a batch of events, where one event was expected');
      cloudEvent = parsed;
    } catch (error) {
      const problem = error instanceof Error ? error.message : String(error);
      this.requests.push({ status: 400, headers, problem });
      return { status: 400, body: `not a CloudEvent: ${problem}\n` };
    }
    const refused = this.refusals.remaining > 0;
    const status = refused ? this.refusals.status : 200;
    if (refused) this.refusals.remaining -= 1;
    this.requests.push({ eventId: cloudEvent.id, mode, status, headers });
    if (!refused) this.events.push({ cloudEvent, data: cloudEvent.data, mode, headers });
    return { status, body: refused ? 'the sink is down\n' : '' };
  }
}
