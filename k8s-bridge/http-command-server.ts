import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { listen, type ListeningServer } from '../observability/http-listening';
import type { Logger } from '../observability/log';
import type { CommandTokens } from './command-tokens';
import type { HttpCommandDelivery } from './http-command-delivery';
import { parseCommandRequest } from './http-command-request';

/**
 * The bridge's HTTP command endpoint, for outside systems that drive rollouts:
 *
 *   POST /v1/namespaces/NAMESPACE/rollouts/NAME/commands
 *   Authorization: Bearer TOKEN
 *   {"requestId": "deploy-4711-promote", "command": "promote"}
 *
 * Nothing is read of the body before the token is checked, and nothing changes unless the request is
 * well formed: 401 without a valid token, 400 for a body that is not a command (saying which field
 * and how to write it), 404 for an unknown Rollout, 409 when the rollout refuses (with its reason).
 */

/** Bodies are a few hundred bytes: anything much larger is not a command. */
export const MAX_BODY_BYTES = 16 * 1024;

const COMMANDS_PATH = /^\/v1\/namespaces\/([a-z0-9][-a-z0-9]*)\/rollouts\/([a-z0-9][-.a-z0-9]*)\/commands$/;

export type HttpCommandServer = ListeningServer;

export async function serveHttpCommands(options: {
  address: string;
  port: number;
  tokens: CommandTokens;
  delivery: HttpCommandDelivery;
  log: Logger;
}): Promise<HttpCommandServer> {
  const { tokens, delivery, log } = options;
  const server: Server = createServer((request, response) => {
    answer(request, response).catch((error: unknown) => {
      log.warn('command request failed', { error, path: request.url });
      if (!response.headersSent)
        send(response, 500, { error: 'the bridge failed to handle the command; see its log' });
      else response.end();
    });
  });

  async function answer(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const path = (request.url ?? '/').split('?')[0] ?? '/';
    const target = COMMANDS_PATH.exec(path);
    if (!target) {
      return refuse(
        response,
        404,
        'not found: send commands to POST /v1/namespaces/NAMESPACE/rollouts/NAME/commands',
      );
    }
    if (request.method !== 'POST') {
      response.setHeader('Allow', 'POST');
      return refuse(
        response,
        405,
        `${request.method ?? 'this method'} is not allowed here: send commands with POST`,
      );
    }
    if (tokens.clientNames().length === 0) {
      return refuse(response, 503, `commands are disabled: Secret ${tokens.described} holds no client token`);
    }
    const sender = tokens.authenticate(request.headers.authorization);
    if (sender === undefined) {
      response.setHeader('WWW-Authenticate', 'Bearer realm="siirto"');
      const why = request.headers.authorization
        ? 'the bearer token is not one of the command tokens'
        : 'no bearer token: send the header Authorization: Bearer TOKEN';
      log.info('command refused: not authenticated', { path, remote: request.socket.remoteAddress });
      return refuse(response, 401, `unauthenticated: ${why}`);
    }
    const declared = Number(request.headers['content-length'] ?? 0);
    if (declared > MAX_BODY_BYTES) return refuse(response, 413, tooLarge());
    const body = await readBody(request);
    if (body === undefined) return refuse(response, 413, tooLarge());
    const parsed = parseCommandRequest(body);
    if (!parsed.ok) {
      log.info('command refused: malformed', { path, client: sender, problem: parsed.problem });
      return send(response, 400, { error: parsed.problem });
    }
    const [, namespace = '', name = ''] = target;
    const outcome = await delivery.deliver({ namespace, name }, parsed.request, sender);
    send(response, outcome.status, outcome.body);
  }

  const listening = await listen(
    server,
    { port: options.port, address: options.address },
    'HTTP commands',
    'set SIIRTO_COMMANDS_ADDRESS and SIIRTO_COMMANDS_PORT to an address of this host and a free port, or 0 for any port',
  );
  log.info('serving HTTP commands', {
    address: options.address,
    port: listening.port,
    secret: tokens.described,
  });
  return listening;
}

function tooLarge(): string {
  return `the body is larger than ${MAX_BODY_BYTES} bytes; a command is a small JSON object`;
}

/** The body as text, or undefined once it grows past the limit (the rest is not read). */
async function readBody(request: IncomingMessage): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > MAX_BODY_BYTES) return undefined;
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function refuse(response: ServerResponse, status: number, error: string): void {
  // The request's body, unread, is of no use: the connection closes after the answer.
  response.setHeader('Connection', 'close');
  send(response, status, { error });
}

function send(response: ServerResponse, status: number, body: object): void {
  response.statusCode = status;
  response.setHeader('Content-Type', 'application/json');
  response.end(`${JSON.stringify(body)}\n`);
}
