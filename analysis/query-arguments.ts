import { AnalysisConfigurationError } from './analysis-configuration-error';

/** `{{args.NAME}}`, spaces allowed inside the braces; names as Kubernetes writes them (`canary-hash`). */
const PLACEHOLDER = /\{\{\s*args\.([A-Za-z0-9_.-]+)\s*\}\}/g;
/** What is left of a placeholder someone meant but mistyped, such as `{{args.service}` or `{{ arg.x }}`. */
const BROKEN_PLACEHOLDER = /\{\{\s*args?\b[^}\s]*/;
/** Arguments always sit inside PromQL quotes: these would end the string or start an escape. */
const UNSAFE_CHARACTERS = /["\\\n\r]/;

/** The names a query uses as `{{args.NAME}}`, each once, in order of first use. */
export function argumentNames(query: string): string[] {
  return [...new Set([...query.matchAll(PLACEHOLDER)].map((match) => match[1] as string))];
}

/**
 * Replaces every `{{args.NAME}}` in a query with the argument's value, verbatim. Throws an
 * AnalysisConfigurationError listing every argument that has no value and every value that could
 * break out of its PromQL quotes. `usedIn` names the query in those messages, such as
 * `AnalysisTemplate shop/success-rate spec.metrics[0].provider.prometheus.query`; `supply` says how
 * to give a missing argument, such as `pass it in spec.strategy.canary.steps[2].analysis.args`.
 */
export function substituteArguments(
  query: string,
  values: ReadonlyMap<string, string>,
  { usedIn, supply }: { usedIn: string; supply: string },
): string {
  const problems: string[] = [];
  for (const name of argumentNames(query)) {
    const value = values.get(name);
    if (value === undefined) {
      problems.push(`${usedIn} uses {{args.${name}}}, which has no value: ${supply}`);
    } else if (UNSAFE_CHARACTERS.test(value)) {
      problems.push(
        `argument "${name}" used by ${usedIn} is ${JSON.stringify(value)}, which holds a quote, backslash or line break: ` +
          'arguments are inserted inside PromQL quotes, so pass the bare label value',
      );
    }
  }
  const substituted = query.replace(PLACEHOLDER, (whole, name: string) => values.get(name) ?? whole);
  const broken = BROKEN_PLACEHOLDER.exec(query.replace(PLACEHOLDER, ''));
  if (broken) {
    problems.push(
      `${usedIn} has a placeholder that is not {{args.NAME}} (near ${JSON.stringify(broken[0])}): write arguments as {{args.NAME}}`,
    );
  }
  if (problems.length > 0) throw new AnalysisConfigurationError(problems);
  return substituted;
}
