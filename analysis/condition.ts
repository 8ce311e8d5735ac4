/**
 * The conditions of a metric (`result < 0.05`, `result >= 0.1 or isNaN(result)`): a small expression
 * language over the measured number `result`, parsed by hand so that a condition can never run
 * anything but arithmetic, comparisons and logic.
 *
 * Grammar, loosest binding first:
 *
 *   condition  = or
 *   or         = and { ("||" | "or") and }
 *   and        = not { ("&&" | "and") not }
 *   not        = ("!" | "not") not | comparison
 *   comparison = sum [ ("<" | "<=" | ">" | ">=" | "==" | "!=") sum ]
 *   sum        = product { ("+" | "-") product }
 *   product    = unary { ("*" | "/") unary }
 *   unary      = ("-" | "+") unary | primary
 *   primary    = NUMBER | "result" | "NaN" | "Inf" | "isNaN" "(" sum ")" | "(" or ")"
 *
 * `not` binds looser than a comparison, so `not result > 1` and `!result > 1` both read as
 * `!(result > 1)`: negating a number means nothing here. Comparisons do not chain (`0 < result < 1` is
 * an error that suggests `and`). Every expression is either a number or true/false, and the parser
 * checks which: a condition must be true or false as a whole.
 */

export type ArithmeticOperator = '+' | '-' | '*' | '/';

export type NumberExpression =
  | { kind: 'number'; value: number }
  | { kind: 'result' }
  | { kind: 'negate'; operand: NumberExpression }
  | { kind: 'arithmetic'; operator: ArithmeticOperator; left: NumberExpression; right: NumberExpression };

export type ComparisonOperator = '<' | '<=' | '>' | '>=' | '==' | '!=';

export type BooleanExpression =
  | { kind: 'compare'; operator: ComparisonOperator; left: NumberExpression; right: NumberExpression }
  | { kind: 'and' | 'or'; left: BooleanExpression; right: BooleanExpression }
  | { kind: 'not'; operand: BooleanExpression }
  | { kind: 'isNaN'; operand: NumberExpression };

/** A parsed condition: always true or false once `result` is known. */
export type Condition = BooleanExpression;

/** A condition that cannot be parsed; the message names the column, what was expected and what was found. */
export class ConditionSyntaxError extends Error {
  constructor(
    readonly condition: string,
    /** 1-based column in `condition` where the problem starts. */
    readonly column: number,
    readonly problem: string,
    /** What stood there instead or what to do, such as `, found "*"` or `: use "==" to compare`. */
    detail = '',
  ) {
    super(`${problem} at column ${column} in ${JSON.stringify(condition)}${detail}`);
    this.name = 'ConditionSyntaxError';
  }
}

type TokenKind = 'number' | 'word' | 'operator' | 'end';

interface Token {
  kind: TokenKind;
  text: string;
  /** 0-based offset of the token's first character. */
  start: number;
  /** Numeric value of a number token. */
  value?: number;
}

const NUMBER = /^(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?/;
const WORD = /^[A-Za-z_][A-Za-z0-9_]*/;
// Longest first, so `<=` is never read as `<` followed by `=`.
const OPERATORS = ['<=', '>=', '==', '!=', '&&', '||', '<', '>', '!', '+', '-', '*', '/', '(', ')'];
const WORDS = new Set(['result', 'NaN', 'Inf', 'isNaN', 'and', 'or', 'not']);

/** Advice for characters people type from other languages. */
const LOOKALIKES: Record<string, string> = {
  '=': 'use "==" to compare',
  '&': 'use "&&" or "and"',
  '|': 'use "||" or "or"',
};

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let offset = 0;
  while (offset < text.length) {
    const rest = text.slice(offset);
    const space = /^\s+/.exec(rest);
    if (space) {
      offset += space[0].length;
      continue;
    }
    const number = NUMBER.exec(rest);
    if (number) {
      if (WORD.test(rest.slice(number[0].length))) {
        throw new ConditionSyntaxError(
          text,
          offset + number[0].length + 1,
          `expected an operator after the number ${number[0]}`,
          ', found a letter',
        );
      }
      tokens.push({ kind: 'number', text: number[0], start: offset, value: Number(number[0]) });
      offset += number[0].length;
      continue;
    }
    const word = WORD.exec(rest);
    if (word) {
      if (!WORDS.has(word[0])) {
        throw new ConditionSyntaxError(
          text,
          offset + 1,
          `unknown name "${word[0]}"`,
          ': a condition knows "result", "NaN", "Inf", "isNaN", "and", "or" and "not"',
        );
      }
      tokens.push({ kind: 'word', text: word[0], start: offset });
      offset += word[0].length;
      continue;
    }
    const operator = OPERATORS.find((candidate) => rest.startsWith(candidate));
    if (operator) {
      tokens.push({ kind: 'operator', text: operator, start: offset });
      offset += operator.length;
      continue;
    }
    const character = rest[0] ?? '';
    const advice = LOOKALIKES[character];
    throw new ConditionSyntaxError(
      text,
      offset + 1,
      `unexpected character "${character}"`,
      advice ? `: ${advice}` : '',
    );
  }
  // The end sits right after the last character that was not a space, where the missing part belongs.
  tokens.push({ kind: 'end', text: '', start: text.trimEnd().length });
  return tokens;
}

type Typed =
  { type: 'number'; expression: NumberExpression } | { type: 'boolean'; expression: BooleanExpression };

const STARTS_A_NUMBER = 'a number, "result" or "("';

/** Deeper nesting than any real condition needs; the limit keeps the recursion off the stack's edge. */
const MAX_NESTING = 64;

class Parser {
  private position = 0;
  private nesting = 0;

  constructor(
    private readonly text: string,
    private readonly tokens: Token[],
  ) {}

  parse(): Condition {
    const first = this.peek();
    if (first.kind === 'end') throw this.expected(first, 'a condition such as "result < 0.05"');
    const parsed = this.or();
    const next = this.peek();
    if (next.kind !== 'end') {
      if (parsed.type === 'boolean' && isComparisonOperator(next.text)) {
        throw this.problem(
          next,
          'comparisons do not chain',
          ': join them with "and", as in "0 < result and result < 1"',
        );
      }
      throw this.expected(next, 'an operator, "and", "or" or the end');
    }
    if (parsed.type !== 'boolean') {
      throw new ConditionSyntaxError(
        this.text,
        first.start + 1,
        'a condition must be true or false, not a number,',
        `: compare it, as in "${this.text.trim()} < 0.05"`,
      );
    }
    return parsed.expression;
  }

  private or(): Typed {
    let left = this.and();
    while (this.matches('||', 'or')) {
      const operator = this.advance();
      const right = this.and();
      left = {
        type: 'boolean',
        expression: {
          kind: 'or',
          left: this.boolean(left, operator),
          right: this.boolean(right, operator),
        },
      };
    }
    return left;
  }

  private and(): Typed {
    let left = this.not();
    while (this.matches('&&', 'and')) {
      const operator = this.advance();
      const right = this.not();
      left = {
        type: 'boolean',
        expression: {
          kind: 'and',
          left: this.boolean(left, operator),
          right: this.boolean(right, operator),
        },
      };
    }
    return left;
  }

  private not(): Typed {
    if (this.matches('!', 'not')) {
      const operator = this.advance();
      const operand = this.nested(operator, () => this.not());
      return { type: 'boolean', expression: { kind: 'not', operand: this.boolean(operand, operator) } };
    }
    return this.comparison();
  }

  private comparison(): Typed {
    const left = this.sum();
    const operator = this.peek();
    if (!isComparisonOperator(operator.text) || operator.kind !== 'operator') return left;
    this.advance();
    const right = this.sum();
    if (isNaNLiteral(left) || isNaNLiteral(right)) {
      throw this.problem(
        operator,
        'a comparison with NaN',
        ': it is always false, use isNaN(result) instead',
      );
    }
    return {
      type: 'boolean',
      expression: {
        kind: 'compare',
        operator: operator.text as ComparisonOperator,
        left: this.number(left, operator),
        right: this.number(right, operator),
      },
    };
  }

  private sum(): Typed {
    let left = this.product();
    while (this.matches('+', '-')) {
      const operator = this.advance();
      const right = this.product();
      left = this.arithmetic(operator, left, right);
    }
    return left;
  }

  private product(): Typed {
    let left = this.unary();
    while (this.matches('*', '/')) {
      const operator = this.advance();
      const right = this.unary();
      left = this.arithmetic(operator, left, right);
    }
    return left;
  }

  private unary(): Typed {
    if (this.matches('-', '+')) {
      const operator = this.advance();
      const operand = this.number(
        this.nested(operator, () => this.unary()),
        operator,
      );
      return { type: 'number', expression: operator.text === '-' ? { kind: 'negate', operand } : operand };
    }
    return this.primary();
  }

  private primary(): Typed {
    const token = this.peek();
    if (token.kind === 'number') {
      this.advance();
      return { type: 'number', expression: { kind: 'number', value: token.value ?? Number.NaN } };
    }
    if (token.kind === 'word') {
      switch (token.text) {
        case 'result':
          this.advance();
          return { type: 'number', expression: { kind: 'result' } };
        case 'NaN':
          this.advance();
          return { type: 'number', expression: { kind: 'number', value: Number.NaN } };
        case 'Inf':
          this.advance();
          return { type: 'number', expression: { kind: 'number', value: Number.POSITIVE_INFINITY } };
        case 'isNaN': {
          this.advance();
          this.expect('(', '"(" after isNaN');
          const operand = this.number(
            this.nested(token, () => this.sum()),
            token,
          );
          this.expect(')', '")"', ' to close "isNaN("');
          return { type: 'boolean', expression: { kind: 'isNaN', operand } };
        }
      }
    }
    if (token.kind === 'operator' && token.text === '(') {
      this.advance();
      const inner = this.nested(token, () => this.or());
      this.expect(')', '")"', ` to close the "(" at column ${token.start + 1}`);
      return inner;
    }
    throw this.expected(token, STARTS_A_NUMBER);
  }

  private arithmetic(operator: Token, left: Typed, right: Typed): Typed {
    return {
      type: 'number',
      expression: {
        kind: 'arithmetic',
        operator: operator.text as ArithmeticOperator,
        left: this.number(left, operator),
        right: this.number(right, operator),
      },
    };
  }

  /** The operand as a number, or an error at its operator: `"+" takes numbers, not comparisons`. */
  private number(operand: Typed, operator: Token): NumberExpression {
    if (operand.type === 'number') return operand.expression;
    throw this.problem(
      operator,
      `"${operator.text}" takes numbers, not comparisons,`,
      ': do the arithmetic first, then compare',
    );
  }

  private boolean(operand: Typed, operator: Token): BooleanExpression {
    if (operand.type === 'boolean') return operand.expression;
    throw this.problem(
      operator,
      `"${operator.text}" takes comparisons, not numbers,`,
      ': write a comparison such as "result > 0"',
    );
  }

  private expect(text: string, expectation: string, purpose = ''): void {
    const token = this.peek();
    if (token.kind === 'operator' && token.text === text) {
      this.advance();
      return;
    }
    throw this.expected(token, expectation, purpose);
  }

  private nested(token: Token, parse: () => Typed): Typed {
    if (++this.nesting > MAX_NESTING) {
      throw this.problem(token, `more than ${MAX_NESTING} levels of nesting`, ': simplify the condition');
    }
    const parsed = parse();
    this.nesting--;
    return parsed;
  }

  private matches(...texts: string[]): boolean {
    const token = this.peek();
    return (token.kind === 'operator' || token.kind === 'word') && texts.includes(token.text);
  }

  private peek(): Token {
    // The tokenizer always ends the list with an end token, and nothing advances past it.
    return this.tokens[this.position] as Token;
  }

  private advance(): Token {
    const token = this.peek();
    if (token.kind !== 'end') this.position++;
    return token;
  }

  /** `expected X at column N in "...", found "Y"`; at the end of the text, the column says it all. */
  private expected(token: Token, expectation: string, purpose = ''): ConditionSyntaxError {
    const found = token.kind === 'end' ? '' : `, found "${token.text}"`;
    return new ConditionSyntaxError(
      this.text,
      token.start + 1,
      `expected ${expectation}`,
      `${purpose}${found}`,
    );
  }

  private problem(token: Token, problem: string, advice: string): ConditionSyntaxError {
    return new ConditionSyntaxError(this.text, token.start + 1, problem, advice);
  }
}

function isComparisonOperator(text: string): boolean {
  return ['<', '<=', '>', '>=', '==', '!='].includes(text);
}

function isNaNLiteral(operand: Typed): boolean {
  return (
    operand.type === 'number' &&
    operand.expression.kind === 'number' &&
    Number.isNaN(operand.expression.value)
  );
}

/** Parses a condition, throwing ConditionSyntaxError for text that is not one. */
export function parseCondition(text: string): Condition {
  return new Parser(text, tokenize(text)).parse();
}

/** Whether the condition holds for `result`. Comparisons with NaN are false, as in PromQL. */
export function evaluateCondition(condition: Condition, result: number): boolean {
  switch (condition.kind) {
    case 'compare':
      return compare(
        condition.operator,
        evaluateNumber(condition.left, result),
        evaluateNumber(condition.right, result),
      );
    case 'and':
      return evaluateCondition(condition.left, result) && evaluateCondition(condition.right, result);
    case 'or':
      return evaluateCondition(condition.left, result) || evaluateCondition(condition.right, result);
    case 'not':
      return !evaluateCondition(condition.operand, result);
    case 'isNaN':
      return Number.isNaN(evaluateNumber(condition.operand, result));
  }
}

function compare(operator: ComparisonOperator, left: number, right: number): boolean {
  switch (operator) {
    case '<':
      return left < right;
    case '<=':
      return left <= right;
    case '>':
      return left > right;
    case '>=':
      return left >= right;
    case '==':
      return left === right;
    case '!=':
      return left !== right;
  }
}

function evaluateNumber(expression: NumberExpression, result: number): number {
  switch (expression.kind) {
    case 'number':
      return expression.value;
    case 'result':
      return result;
    case 'negate':
      return -evaluateNumber(expression.operand, result);
    case 'arithmetic':
      return calculate(
        expression.operator,
        evaluateNumber(expression.left, result),
        evaluateNumber(expression.right, result),
      );
  }
}

function calculate(operator: ArithmeticOperator, left: number, right: number): number {
  switch (operator) {
    case '+':
      return left + right;
    case '-':
      return left - right;
    case '*':
      return left * right;
    case '/':
      return left / right;
  }
}
