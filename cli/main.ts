#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { cliContext, CliError, type CliContext } from './cli-context';
import { convertCommand } from './convert-command';
import { fleetCommand, FLEET_USAGE } from './fleet-command';
import { listCommand } from './list-rollouts';
import { rolloutCommand } from './rollout-commands';
import { historyCommand } from './rollout-history';
import { statusCommand } from './rollout-status-view';
import { promoteAllCommand } from './promote-all';
import { undoCommand } from './undo-rollout';

const USAGE = `siirto: drive Siirto rollouts (also usable as \`kubectl siirto\`)

Commands:
  list                          Rollouts with phase, step, weights and revision
  get NAME                      one Rollout (same as status without --watch)
  status NAME [--watch]         steps, weights and pods; --watch redraws until Healthy (exit 0) or Degraded (exit 1)
  promote NAME [--full]         skip the current pause; --full skips every remaining step
  promote --all [-l SELECTOR]   promote every paused Rollout of the namespace (-A: of all), or those the labels pick
  abort NAME [--reason TEXT]    traffic back to stable, canary scaled to 0
  retry NAME                    run an aborted revision's steps again, or one whose run ended without a verdict
  set-weight NAME WEIGHT        the canary's weight (0-100) during a step pause: {external: true}
  conclude NAME --winner A|B    end an A/B experiment with this winner: B promoted, or B removed and A kept
  undo NAME [--to-revision N]   roll the template of an earlier revision out again
  history NAME                  past revisions from Temporal: outcome, start, duration, Web UI link
  convert -f FILE               Argo Rollouts manifests (- for stdin) as Siirto's on stdout; on stderr,
                                every field not carried over and why (needs no cluster)
${FLEET_USAGE}

Flags:
  -n, --namespace NS            the Rollout's namespace (default: the kubeconfig context's)
  -A, --all-namespaces          list (or promote --all) across all namespaces
  -l, --selector SELECTOR       with promote --all: only Rollouts with these labels, such as app=checkout,tier=web
  -o, --output json|yaml        structured output instead of a table
      --kubeconfig FILE, --context NAME
      --address HOST:PORT       Temporal (default $TEMPORAL_ADDRESS or 127.0.0.1:7233)
      --temporal-namespace NS   (default $TEMPORAL_NAMESPACE or default)
      --tls-cert-path FILE, --tls-key-path FILE
                                client certificate and key for mTLS, both or neither ($TEMPORAL_TLS_CERT, $TEMPORAL_TLS_KEY)
      --tls-ca-path FILE        CA of the server's certificate ($TEMPORAL_TLS_CA)
      --tls-server-name NAME    name to verify the server's certificate against ($TEMPORAL_TLS_SERVER_NAME)
      --api-key KEY             API key, sent over TLS ($TEMPORAL_API_KEY)
      --cluster ID              this cluster's SIIRTO_CLUSTER_ID, when clusters share a Temporal namespace ($SIIRTO_CLUSTER_ID)
      --timeout SECONDS         with status --watch: give up after this long (exit 2)

Exit codes: 0 done, 1 refused or Degraded, 2 usage or timeout, 3 Temporal unreachable, 4 not found.`;

async function run(argv: string[], write: (text: string) => void): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      namespace: { type: 'string', short: 'n' },
      'all-namespaces': { type: 'boolean', short: 'A' },
      output: { type: 'string', short: 'o' },
      kubeconfig: { type: 'string' },
      context: { type: 'string' },
      address: { type: 'string' },
      'temporal-namespace': { type: 'string' },
      'tls-cert-path': { type: 'string' },
      'tls-key-path': { type: 'string' },
      'tls-ca-path': { type: 'string' },
      'tls-server-name': { type: 'string' },
      'api-key': { type: 'string' },
      cluster: { type: 'string' },
      watch: { type: 'boolean', short: 'w' },
      timeout: { type: 'string' },
      full: { type: 'boolean' },
      all: { type: 'boolean' },
      selector: { type: 'string', short: 'l' },
      reason: { type: 'string' },
      winner: { type: 'string' },
      'to-revision': { type: 'string' },
      file: { type: 'string', short: 'f' },
      wave: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [command, name, weightText] = positionals;
  if (values.help || !command) {
    write(USAGE);
    return command || values.help ? 0 : 2;
  }
  if (command === 'convert') {
    const { manifests, notes } = convertCommand(values.file, () => readFileSync(0, 'utf8'));
    process.stdout.write(manifests);
    for (const line of notes) process.stderr.write(`siirto convert: ${line}\n`);
    return 0;
  }
  if (command === 'fleet') {
    return fleetCommand(
      {
        sub: name,
        app: weightText,
        file: values.file,
        wave: numberFlag('wave', values.wave, 'a wave number counted from 1, such as 2', true),
        reason: values.reason,
        cluster: values.cluster,
        full: values.full,
        watch: values.watch,
        timeoutSeconds: numberFlag('timeout', values.timeout, 'a number of seconds, such as 120'),
        output: values.output,
      },
      values,
      write,
    );
  }
  const context: CliContext = cliContext({
    kubeconfig: values.kubeconfig,
    context: values.context,
    namespace: values.namespace,
    allNamespaces: values['all-namespaces'],
    output: values.output,
    temporal: values,
  });
  const needName = () => {
    if (!name) throw new CliError(`siirto ${command} needs the Rollout's name; see siirto --help`, 2);
    return name;
  };
  try {
    switch (command) {
      case 'list':
        write(await listCommand(context));
        return 0;
      case 'get':
      case 'status':
        return await statusCommand(context, needName(), {
          watch: command === 'status' && values.watch,
          timeoutSeconds: numberFlag('timeout', values.timeout, 'a number of seconds, such as 120'),
          write: (text) => process.stdout.write(text),
        });
      case 'promote':
        if (values.all || values.selector !== undefined) {
          if (name !== undefined || !values.all) {
            throw new CliError(
              "siirto promote takes either a Rollout's name or --all (with -l SELECTOR to pick by labels), such as `siirto promote --all -l app=checkout`",
              2,
            );
          }
          write(await promoteAllCommand(context, { selector: values.selector, full: values.full }));
          return 0;
        }
        write(await rolloutCommand(context, command, needName(), { full: values.full }));
        return 0;
      case 'abort':
      case 'retry':
        write(
          await rolloutCommand(context, command, needName(), { full: values.full, reason: values.reason }),
        );
        return 0;
      case 'set-weight':
        write(
          await rolloutCommand(context, 'setWeight', needName(), {
            weight: weightArgument(weightText),
          }),
        );
        return 0;
      case 'conclude':
        write(await rolloutCommand(context, 'conclude', needName(), { winner: winnerFlag(values.winner) }));
        return 0;
      case 'undo':
        write(
          await undoCommand(
            context,
            needName(),
            numberFlag('to-revision', values['to-revision'], 'a revision number, such as 3', true),
          ),
        );
        return 0;
      case 'history':
        write(await historyCommand(context, needName()));
        return 0;
      default:
        throw new CliError(`unknown command ${command}; see siirto --help`, 2);
    }
  } finally {
    await context.close();
  }
}

/** The weight of `siirto set-weight NAME WEIGHT`: a whole percentage, or a usage error saying so. */
function weightArgument(text: string | undefined): number {
  const weight = Number(text);
  if (text === undefined || text.trim() === '' || !Number.isInteger(weight) || weight < 0 || weight > 100) {
    throw new CliError(
      `siirto set-weight needs the canary's weight as a whole number from 0 to 100 after the name, such as \`siirto set-weight checkout 30\`${text === undefined ? '' : `, not ${text}`}`,
      2,
    );
  }
  return weight;
}

/** The winner of `siirto conclude NAME --winner A|B`, or a usage error saying what it takes. */
function winnerFlag(text: string | undefined): 'A' | 'B' {
  const winner = text?.toUpperCase();
  if (winner === 'A' || winner === 'B') return winner;
  throw new CliError(
    `siirto conclude needs --winner A (keep the stable, remove B) or --winner B (promote B)${text === undefined ? '' : `, not ${text}`}`,
    2,
  );
}

/** A numeric flag's value; anything else is a usage error naming the flag, rather than a silent NaN. */
function numberFlag(
  flag: string,
  text: string | undefined,
  wanted: string,
  integer = false,
): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    throw new CliError(`--${flag} ${JSON.stringify(text)} is not ${wanted}`, 2);
  }
  return value;
}

run(process.argv.slice(2), (text) => console.log(text)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof CliError) {
      console.error(`siirto: ${error.message}`);
      process.exit(error.exitCode);
    }
    if (error instanceof TypeError && 'code' in error && String(error.code).startsWith('ERR_PARSE_ARGS')) {
      console.error(`siirto: ${error.message}; see siirto --help`);
      process.exit(2);
    }
    console.error(error);
    process.exit(1);
  },
);
