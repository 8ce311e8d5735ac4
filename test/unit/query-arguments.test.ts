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

  it.each([
    ['a quote', 'shop"} or vector(1) #'],
    ['a backslash', 'shop\\'],
    ['a line break', 'shop\nx'],
  ])('rejects a value holding %s, since it would break out of its quotes', (_what, value) => {
    const problems = problemsOf(() =>
      substituteArguments('x{a="{{args.bad}}"}', new Map([['bad', value]]), where),
    );
    expect(problems).toEqual([
      `argument "bad" used by AnalysisTemplate shop/web query is ${JSON.stringify(value)}, which holds a quote, ` +
        'backslash or line break: arguments are inserted inside PromQL quotes, so pass the bare label value',
    ]);
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
