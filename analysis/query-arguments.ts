import { AnalysisConfigurationError } from './analysis-configuration-error';

/** `{{args.NAME}}`, spaces allowed inside the braces; names as Kubernetes writes them (`canary-hash`). */
const PLACEHOLDER = /\{\{\s*args\.([A-Za-z0-9_.-]+)\s*\}\}/g;
/** What is left of a placeholder someone meant but mistyped, such as `{{args.service}` or `{{ arg.x }}`. */
const BROKEN_PLACEHOLDER = /\{\{\s*args?\b[^}\s]*/;
/**
 * What a value may be where a placeholder stands outside quotes, as in `[{{args.window}}]` or
 * `> {{args.threshold}}`: one number or one PromQL duration, which can only ever be read as itself.
 */
const BARE_VALUE = /^(?:[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|(?:\d+(?:ms|s|m|h|d|w|y))+)$/;

/**
 * Where a placeholder stands in a query: in a PromQL string of one of its three quotes, in a comment,
 * or in the query itself.
 */
type Surrounding = '"' | "'" | '`' | 'comment' | 'query';

/** The names a query uses as `{{args.NAME}}`, each once, in order of first use. */
export function argumentNames(query: string): string[] {
  return [...new Set([...query.matchAll(PLACEHOLDER)].map((match) => match[1] as string))];
}

/**
 * Replaces every `{{args.NAME}}` in a query with the argument's value, written so that the value can
 * only ever be a value, never more PromQL:
 *
 * - inside `"…"` or `'…'` it is escaped as string content (backslash, that quote, line breaks and
 *   other control characters), so `a'}) * 0 #` stays one label value;
 * - inside a raw `` `…` `` string, where PromQL has no escapes, a value holding a backquote is refused;
 * - in a `#` comment, line breaks become spaces;
 * - outside any string only a number or a duration (`0.99`, `5m`) is accepted.
 *
 * Which of these applies is read from the query itself, with PromQL's own rules for strings and
 * comments. Throws an AnalysisConfigurationError listing every argument without a value and every value
 * refused. `usedIn` names the query in those messages, such as `AnalysisTemplate shop/success-rate
 * spec.metrics[0].provider.prometheus.query`; `supply` says how to give a missing argument, such as
 * `pass it in spec.strategy.canary.steps[2].analysis.args`.
 */
export function substituteArguments(
  query: string,
  values: ReadonlyMap<string, string>,
  { usedIn, supply }: { usedIn: string; supply: string },
): string {
  const problems: string[] = [];
  const reported = new Set<string>();
  const report = (key: string, problem: string) => {
    if (reported.has(key)) return;
    reported.add(key);
    problems.push(problem);
  };
  const surroundings = placeholderSurroundings(query);
  const substituted = query.replace(PLACEHOLDER, (whole, name: string, offset: number) => {
    const surrounding = surroundings.get(offset) ?? 'query';
    const value = values.get(name);
    if (value === undefined) {
      report(`missing ${name}`, `${usedIn} uses {{args.${name}}}, which has no value: ${supply}`);
      return whole;
    }
    const written = writeValue(value, surrounding);
    if (written === undefined) {
      report(`${surrounding} ${name}`, refusal(name, value, surrounding, usedIn));
      return whole;
    }
    return written;
  });
  const broken = BROKEN_PLACEHOLDER.exec(query.replace(PLACEHOLDER, ''));
  if (broken) {
    problems.push(
      `${usedIn} has a placeholder that is not {{args.NAME}} (near ${JSON.stringify(broken[0])}): write arguments as {{args.NAME}}`,
    );
  }
  if (problems.length > 0) throw new AnalysisConfigurationError(problems);
  return substituted;
}

/** The value as it may stand in that place of a query, or undefined where it may not stand at all. */
function writeValue(value: string, surrounding: Surrounding): string | undefined {
  switch (surrounding) {
    case '"':
    case "'":
      return escapeStringContent(value, surrounding);
    case '`':
      return value.includes('`') ? undefined : value;
    case 'comment':
      return value.replace(/[\r\n]+/g, ' ');
    case 'query':
      return BARE_VALUE.test(value) ? value : undefined;
  }
}

function refusal(name: string, value: string, surrounding: Surrounding, usedIn: string): string {
  const shown = JSON.stringify(value);
  if (surrounding === '`') {
    return (
      `argument "${name}" used by ${usedIn} is ${shown}, which holds a backquote, and {{args.${name}}} stands ` +
      'in a `raw string`, which PromQL cannot escape: write the placeholder in double quotes, ' +
      `"{{args.${name}}}", so any value stays a value`
    );
  }
  return (
    `${usedIn} uses {{args.${name}}} outside quotes, where its value ${shown} would be read as PromQL: ` +
    `write the placeholder inside quotes, such as label="{{args.${name}}}", or pass a number or a ` +
    'duration such as 5m, the only values that may stand outside quotes'
  );
}

/**
 * A value as the content of a PromQL string opened with `quote`. PromQL strings follow Go's escapes,
 * and accept an escaped quote only of the kind that opened them, so only that quote is escaped.
 */
export function escapeStringContent(value: string, quote: '"' | "'"): string {
  let escaped = '';
  for (const character of value) {
    const code = character.codePointAt(0) ?? 0;
    if (character === '\\' || character === quote) escaped += `\\${character}`;
    else if (character === '\n') escaped += '\\n';
    else if (character === '\r') escaped += '\\r';
    else if (character === '\t') escaped += '\\t';
    else if (code < 0x20 || code === 0x7f) escaped += `\\x${code.toString(16).padStart(2, '0')}`;
    // Prometheus reads U+FFFD in a query as invalid UTF-8, and a lone surrogate would be sent as one.
    else if (code === 0xfffd || (code >= 0xd800 && code <= 0xdfff)) escaped += '\\ufffd';
    else escaped += character;
  }
  return escaped;
}

/**
 * Where each placeholder of a query stands, by its offset, read as PromQL's lexer reads the query: a `#`
 * outside strings starts a comment to the end of the line; `"` and `'` strings end at their quote or a
 * line break (where Prometheus stops with an error anyway) and a backslash escapes the next character;
 * a `` ` `` string has no escapes. Placeholders hold no quote, backslash or `#`, so they never change
 * what surrounds the text after them.
 */
function placeholderSurroundings(query: string): Map<number, Surrounding> {
  const starts = new Map([...query.matchAll(PLACEHOLDER)].map((match) => [match.index, match[0].length]));
  const found = new Map<number, Surrounding>();
  let surrounding: Surrounding = 'query';
  for (let position = 0; position < query.length; position++) {
    const placeholderLength = starts.get(position);
    if (placeholderLength !== undefined) {
      found.set(position, surrounding);
      position += placeholderLength - 1;
      continue;
    }
    const character = query[position];
    switch (surrounding) {
      case 'query':
        if (character === '"' || character === "'" || character === '`') surrounding = character;
        else if (character === '#') surrounding = 'comment';
        break;
      case 'comment':
        if (character === '\n' || character === '\r') surrounding = 'query';
        break;
      case '`':
        if (character === '`') surrounding = 'query';
        break;
      default:
        // A backslash escapes the next character, unless a placeholder starts there (a broken query).
        if (character === '\\' && !starts.has(position + 1)) position++;
        else if (character === surrounding || character === '\n' || character === '\r') surrounding = 'query';
    }
  }
  return found;
}
