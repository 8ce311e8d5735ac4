import { ConditionSyntaxError, evaluateCondition, parseCondition } from '../../analysis/condition';

const holds = (condition: string, result: number) => evaluateCondition(parseCondition(condition), result);

function syntaxError(condition: string): ConditionSyntaxError {
  try {
    parseCondition(condition);
  } catch (error) {
    if (error instanceof ConditionSyntaxError) return error;
    throw error;
  }
  throw new Error(`${JSON.stringify(condition)} parsed, but was expected not to`);
}

describe('conditions', () => {
  it.each([
    ['result < 0.05', 0.01, true],
    ['result < 0.05', 0.05, false],
    ['result <= 0.05', 0.05, true],
    ['result > 100', 101, true],
    ['result >= 100', 99.5, false],
    ['result == 3', 3, true],
    ['result != 3', 3, false],
    ['result < 1e-3', 0.0005, true],
    ['result < 1E-3', 0.002, false],
    ['result > 2.5e+2', 251, true],
    ['result < .5', 0.4, true],
    ['result < Inf', 1e308, true],
    ['result > -Inf', -1e308, true],
    ['-result > 0', -1, true],
    ['+result > 0', 1, true],
    ['result * 100 > 5', 0.06, true],
    ['result / 2 == 0.25', 0.5, true],
    ['result - 1 < 0', 0.5, true],
  ])('%s with result %d is %s', (condition, result, expected) => {
    expect(holds(condition, result)).toBe(expected);
  });

  it('applies the usual arithmetic precedence', () => {
    expect(holds('1 + 2 * 3 == 7', 0)).toBe(true);
    expect(holds('(1 + 2) * 3 == 9', 0)).toBe(true);
    expect(holds('10 - 4 - 3 == 3', 0)).toBe(true); // left-associative
    expect(holds('12 / 3 / 2 == 2', 0)).toBe(true);
    expect(holds('-2 * 3 == -6', 0)).toBe(true);
    expect(holds('- -2 == 2', 0)).toBe(true);
  });

  it('binds "and" tighter than "or", and "not" tighter than both but looser than comparisons', () => {
    // true or (false and false) is true; (true or false) and false would be false.
    expect(holds('result > 0 or result > 5 and result > 10', 1)).toBe(true);
    expect(holds('result > 0 || result > 5 && result > 10', 1)).toBe(true);
    expect(holds('(result > 0 or result > 5) and result > 10', 1)).toBe(false);
    // not (result > 5) and result > 0
    expect(holds('not result > 5 and result > 0', 1)).toBe(true);
    expect(holds('!result > 5 && result > 0', 1)).toBe(true);
    expect(holds('!(result > 5 && result > 0)', 6)).toBe(false);
    expect(holds('not not result > 0', 1)).toBe(true);
  });

  it('treats comparisons with NaN as false and offers isNaN to ask for it', () => {
    expect(holds('result < 0.05', Number.NaN)).toBe(false);
    expect(holds('result >= 0.05', Number.NaN)).toBe(false);
    expect(holds('isNaN(result)', Number.NaN)).toBe(true);
    expect(holds('isNaN(result)', 0)).toBe(false);
    expect(holds('isNaN(result / 0)', 0)).toBe(true);
    expect(holds('isNaN(result) or result >= 0.1', 0.2)).toBe(true);
  });

  it('never evaluates anything but the expression', () => {
    for (const attack of ['process.exit(1)', 'constructor', 'result.constructor', 'this', '`result`']) {
      expect(() => parseCondition(attack)).toThrow(ConditionSyntaxError);
    }
  });

  it.each([
    ['result < ', 'expected a number, "result" or "(" at column 9 in "result < "'],
    ['result <', 'expected a number, "result" or "(" at column 9 in "result <"'],
    ['', 'expected a condition such as "result < 0.05" at column 1 in ""'],
    ['result < * 2', 'expected a number, "result" or "(" at column 10 in "result < * 2", found "*"'],
    ['(result < 1', 'expected ")" at column 12 in "(result < 1" to close the "(" at column 1'],
    ['result < 1)', 'expected an operator, "and", "or" or the end at column 11 in "result < 1)", found ")"'],
    ['result = 1', 'unexpected character "=" at column 8 in "result = 1": use "==" to compare'],
    [
      'result < 1 & result > 0',
      'unexpected character "&" at column 12 in "result < 1 & result > 0": use "&&" or "and"',
    ],
    ['result < 5%', 'unexpected character "%" at column 11 in "result < 5%"'],
    [
      'value < 1',
      'unknown name "value" at column 1 in "value < 1": a condition knows "result", "NaN", "Inf", "isNaN", "and", "or" and "not"',
    ],
    ['result < 3x', 'expected an operator after the number 3 at column 11 in "result < 3x", found a letter'],
    ['isNaN result', 'expected "(" after isNaN at column 7 in "isNaN result", found "result"'],
  ])('rejects %j: %s', (condition, message) => {
    expect(syntaxError(condition).message).toBe(message);
  });

  it('rejects an expression that is a number, not true or false', () => {
    const error = syntaxError('result + 1');
    expect(error.message).toBe(
      'a condition must be true or false, not a number, at column 1 in "result + 1": compare it, as in "result + 1 < 0.05"',
    );
    expect(syntaxError('result').column).toBe(1);
    expect(syntaxError('(result)').message).toContain('must be true or false');
  });

  it('rejects logic on numbers and arithmetic on comparisons', () => {
    expect(syntaxError('not result').message).toBe(
      '"not" takes comparisons, not numbers, at column 1 in "not result": write a comparison such as "result > 0"',
    );
    expect(syntaxError('result and result > 1').message).toContain('"and" takes comparisons, not numbers');
    expect(syntaxError('(result < 1) + 2').message).toBe(
      '"+" takes numbers, not comparisons, at column 14 in "(result < 1) + 2": do the arithmetic first, then compare',
    );
    expect(syntaxError('-(result < 1) < 0').message).toContain('"-" takes numbers, not comparisons');
    expect(syntaxError('isNaN(result) < 1').message).toContain('"<" takes numbers, not comparisons');
  });

  it('rejects chained comparisons and comparisons with NaN, saying what to write instead', () => {
    expect(syntaxError('0 < result < 1').message).toBe(
      'comparisons do not chain at column 12 in "0 < result < 1": join them with "and", as in "0 < result and result < 1"',
    );
    expect(syntaxError('result == NaN').message).toBe(
      'a comparison with NaN at column 8 in "result == NaN": it is always false, use isNaN(result) instead',
    );
  });

  it('rejects nesting deeper than any real condition', () => {
    const deep = `${'('.repeat(10_000)}result < 1${')'.repeat(10_000)}`;
    expect(syntaxError(deep).message).toContain('more than 64 levels of nesting');
    expect(syntaxError(`${'-'.repeat(10_000)}result < 1`).message).toContain('levels of nesting');
    expect(holds(`${'('.repeat(60)}result < 1${')'.repeat(60)}`, 0)).toBe(true);
  });
});
