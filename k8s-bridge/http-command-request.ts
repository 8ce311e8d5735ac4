import { z } from 'zod';

/**
 * The body of a command sent to the bridge over HTTP (http-command-server.ts), as an outside system
 * (a release pipeline, an experimentation platform) writes it:
 *
 *   {"requestId": "deploy-4711-promote", "command": "promote", "full": true, "by": "alice"}
 *
 * Every problem is said with the field it is in and how to write it instead.
 */

export const HTTP_COMMANDS = ['promote', 'abort', 'retry', 'setWeight'] as const;
export type HttpCommandName = (typeof HTTP_COMMANDS)[number];

/** Longest request ID: it becomes part of a Temporal Update ID. */
const MAX_REQUEST_ID = 128;
const MAX_BY = 128;
const MAX_REASON = 1024;

const common = {
  requestId: z
    .string({
      error:
        'is required: a string of your own that names this request, such as "deploy-4711-promote"; ' +
        'send the same one again to repeat a request without acting twice',
    })
    .min(1, 'must not be empty; name the request, such as "deploy-4711-promote"')
    .max(MAX_REQUEST_ID, `must be at most ${MAX_REQUEST_ID} characters`)
    .regex(/^[A-Za-z0-9._:-]+$/, 'may hold only letters, digits, ".", "_", ":" and "-"'),
  by: z
    .string({ error: 'must be a string naming who asks, such as "alice"' })
    .trim()
    .min(1, 'must not be empty; leave it out, or name who asks')
    .max(MAX_BY, `must be at most ${MAX_BY} characters`)
    .regex(/^[^\p{Cc}]*$/u, 'must not hold control characters')
    .optional(),
};

const CommandRequestSchema = z.discriminatedUnion(
  'command',
  [
    z.strictObject({
      ...common,
      command: z.literal('promote'),
      full: z.boolean({ error: 'must be true (skip every remaining step) or false' }).optional(),
    }),
    z.strictObject({
      ...common,
      command: z.literal('abort'),
      reason: z
        .string({ error: 'must be a string saying why, such as "error budget burnt"' })
        .trim()
        .max(MAX_REASON, `must be at most ${MAX_REASON} characters`)
        .optional(),
    }),
    z.strictObject({ ...common, command: z.literal('retry') }),
    z.strictObject({
      ...common,
      command: z.literal('setWeight'),
      weight: z
        .number({ error: "is required: the canary's share of traffic, a whole number from 0 to 100" })
        .int('must be a whole number from 0 to 100')
        .min(0, 'must be a whole number from 0 to 100')
        .max(100, 'must be a whole number from 0 to 100'),
    }),
  ],
  { error: `must be one of ${HTTP_COMMANDS.join(', ')}` },
);

export type HttpCommandRequest = z.infer<typeof CommandRequestSchema>;

export type ParsedCommand = { ok: true; request: HttpCommandRequest } | { ok: false; problem: string };

/** Reads a request body: the command, or what is wrong with the body, naming the field and the fix. */
export function parseCommandRequest(body: string): ParsedCommand {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch (error) {
    return {
      ok: false,
      problem:
        `the body is not JSON (${error instanceof Error ? error.message : String(error)}); send an object ` +
        'such as {"requestId": "deploy-4711-promote", "command": "promote"}',
    };
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    return {
      ok: false,
      problem:
        'the body must be a JSON object such as {"requestId": "deploy-4711-promote", "command": "promote"}',
    };
  }
  const parsed = CommandRequestSchema.safeParse(json);
  if (parsed.success) return { ok: true, request: parsed.data };
  return { ok: false, problem: parsed.error.issues.map(describeIssue).join('; ') };
}

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') {
    return issue.keys
      .map((key) => `${key}: is not a field of this command; remove it (see docs/http-commands.md)`)
      .join('; ');
  }
  return `${issue.path.join('.') || 'body'}: ${issue.message}`;
}
