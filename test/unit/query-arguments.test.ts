import { AnalysisConfigurationError } from '../../analysis/analysis-configuration-error';
import { argumentNames, substituteArguments } from '../../analysis/query-arguments';

const where = { usedIn: 'AnalysisTemplate shop/web query', supply: 'pass it in analysis.args' };

function problemsOf(run: () => unknown): readonly string[] {
  try {
    run();
  } catch (error) {
    if (error instanceof AnalysisConfigurationError) return error.problems;
    throw error;
  }
  throw new Error('substitution succeeded but was expected to fail');
}

describe('query arguments', () => {
  const values = new Map([
    ['namespace', 'shop'],
    ['canary-hash', '7d9f8c6b5'],
    ['service', 'checkout'],
  ]);

  it('replaces every placeholder, with or without spaces inside the braces, verbatim', () => {
    expect(
      substituteArguments(
        'sum(rate(x{namespace="{{args.namespace}}",hash="{{ args.canary-hash }}",a="{{args.namespace}}"}[1m]))',
        values,
        where,
      ),
    ).toBe('sum(rate(x{namespace="shop",hash="7d9f8c6b5",a="shop"}[1m]))');
    expect(substituteArguments('x{service=~"{{args.service}}|other.*"}', values, where)).toBe(
      'x{service=~"checkout|other.*"}',
    );
  });

  it('leaves a query without placeholders as it is', () => {
    expect(substituteArguments('vector(1) > bool 0', values, where)).toBe('vector(1) > bool 0');
  });

  it('lists the names a query uses, each once', () => {
    expect(argumentNames('{{args.a}} {{ args.b }} {{args.a}}')).toEqual(['a', 'b']);
  });

  it('names every argument without a value and where it is used', () => {
    expect(
      problemsOf(() => substituteArguments('x{a="{{args.region}}",b="{{args.zone}}"}', values, where)),
    ).toEqual([
      'AnalysisTemplate shop/web query uses {{args.region}}, which has no value: pass it in analysis.args',
      'AnalysisTemplate shop/web query uses {{args.zone}}, which has no value: pass it in analysis.args',
    ]);
  });

  const substitute = (query: string, value: string) =>
    substituteArguments(query, new Map([['value', value]]), where);

  it.each([
    ['double', `x{a="{{args.value}}"}`, 'a"}) * 0 #', String.raw`x{a="a\"}) * 0 #"}`],
    ['single', `x{a='{{args.value}}'}`, "a'}) * 0 #", String.raw`x{a='a\'}) * 0 #'}`],
    // The other quote needs no escape there, and PromQL refuses one escaped anyway.
    ['double', `x{a="{{args.value}}"}`, "it's", `x{a="it's"}`],
    ['single', `x{a='{{args.value}}'}`, 'say "hi"', `x{a='say "hi"'}`],
    ['double', `x{a="{{args.value}}"}`, 'shop\\', String.raw`x{a="shop\\"}`],
    ['double', `x{a=~"{{args.value}}"}`, '\\d+', String.raw`x{a=~"\\d+"}`],
    ['double', `x{a="{{args.value}}"}`, 'a\nb\rc\td', String.raw`x{a="a\nb\rc\td"}`],
    ['single', `x{a='{{args.value}}'}`, 'bell\u0007 del\u007f', String.raw`x{a='bell\x07 del\x7f'}`],
    ['double', `x{a="{{args.value}}"}`, 'bad \ufffd \ud800', String.raw`x{a="bad \ufffd \ufffd"}`],
  ])('escapes a value as the content of a %s-quoted string: %j with %j', (_quote, query, value, expected) => {
    expect(substitute(query, value)).toBe(expected);
  });

  it('reads which quotes surround each placeholder as PromQL does: escapes, other strings, comments', () => {
    const query = [
      `x{a="\\"{{args.value}}", b='"', c='{{args.value}}', d="'{{args.value}}"} # "{{args.value}}`,
      `  and y{e=\`{{args.value}}\`}`,
    ].join('\n');
    expect(substitute(query, `q'"\nz`)).toBe(
      [String.raw`x{a="\"q'\"\nz", b='"', c='q\'"\nz', d="'q'\"\nz"} # "q'" z`, '  and y{e=`q\'"\nz`}'].join(
        '\n',
      ),
    );
  });

  it('refuses a backquote in a raw string, which PromQL cannot escape', () => {
    expect(problemsOf(() => substitute('x{a=`{{args.value}}`}', 'a`} or vector(1) #'))).toEqual([
      'argument "value" used by AnalysisTemplate shop/web query is "a`} or vector(1) #", which holds a ' +
        'backquote, and {{args.value}} stands in a `raw string`, which PromQL cannot escape: write the ' +
        'placeholder in double quotes, "{{args.value}}", so any value stays a value',
    ]);
  });

  it.each(['5m', '1h30m', '500ms', '0.99', '-1', '1e-3', '.5'])(
    'accepts the number or duration %j outside quotes',
    (value) => {
      expect(substitute('rate(x[{{args.value}}]) > {{ args.value }}', value)).toBe(
        `rate(x[${value}]) > ${value}`,
      );
    },
  );

  it.each(['5m]) * 0 + vector(1) #', 'x', '1 or vector(1)', '"a"', '', '5m # '])(
    'refuses %j outside quotes, naming the placeholder and the fix',
    (value) => {
      expect(problemsOf(() => substitute('sum(rate(x[{{args.value}}])) > 1', value))).toEqual([
        `AnalysisTemplate shop/web query uses {{args.value}} outside quotes, where its value ${JSON.stringify(value)} ` +
          'would be read as PromQL: write the placeholder inside quotes, such as label="{{args.value}}", or ' +
          'pass a number or a duration such as 5m, the only values that may stand outside quotes',
      ]);
    },
  );

  it('reports a value refused in several places once, beside the arguments that have none', () => {
    expect(
      problemsOf(() => substitute('x[{{args.value}}] offset {{args.value}} > {{args.absent}}', 'z')),
    ).toEqual([
      expect.stringMatching(/^AnalysisTemplate shop\/web query uses \{\{args\.value\}\} outside quotes/),
      'AnalysisTemplate shop/web query uses {{args.absent}}, which has no value: pass it in analysis.args',
    ]);
  });

  it('treats a line break as the end of a comment and of an unterminated string', () => {
    expect(problemsOf(() => substitute('x # "\n> {{args.value}}', 'y'))[0]).toContain('outside quotes');
    expect(problemsOf(() => substitute('x{a="\n> {{args.value}}', 'y'))[0]).toContain('outside quotes');
  });

  it('accepts an unsafe value no query uses', () => {
    expect(substituteArguments('x', new Map([['bad', '"']]), where)).toBe('x');
  });

  it('reports placeholders that are almost right', () => {
    expect(problemsOf(() => substituteArguments('x{a="{{args.service}"}', values, where))).toEqual([
      'AnalysisTemplate shop/web query has a placeholder that is not {{args.NAME}} (near "{{args.service"): ' +
        'write arguments as {{args.NAME}}',
    ]);
    expect(problemsOf(() => substituteArguments('x{a="{{arg.service}}"}', values, where))[0]).toContain(
      'near "{{arg.service"',
    );
  });
});
