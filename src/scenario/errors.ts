import { DeterministicError } from '../errors.ts';

/** One problem found in a scenario, located by a path such as `steps[3].needs[0]`. */
export interface ValidationIssue {
  path: string;
  message: string;
}

const VALIDATION_BRAND = Symbol.for('scenario-queue.ScenarioValidationError');
const EXPRESSION_BRAND = Symbol.for('scenario-queue.ExpressionError');

/**
 * A scenario that cannot run. Carries every issue found, so users fix them all in one
 * go; `format()` is what the CLI prints (one line per issue, never a stack trace).
 */
export class ScenarioValidationError extends DeterministicError {
  readonly [VALIDATION_BRAND] = true;
  readonly issues: readonly ValidationIssue[];
  readonly fileName?: string;

  constructor(issues: readonly ValidationIssue[], options: { fileName?: string } = {}) {
    super(renderIssues(issues, options.fileName), { kind: 'invalid_input', details: { issues } });
    this.name = 'ScenarioValidationError';
    this.issues = issues;
    this.fileName = options.fileName;
  }

  /** One line per issue: `examples/x.yaml: steps[3].needs[0]: unknown step "lgoin"`. */
  format(fileName: string | undefined = this.fileName): string {
    return renderIssues(this.issues, fileName);
  }
}

/** Guard that works across duplicated package copies (brand, not `instanceof`). */
export function isScenarioValidationError(e: unknown): e is ScenarioValidationError {
  return typeof e === 'object' && e !== null && (e as Record<symbol, unknown>)[VALIDATION_BRAND] === true;
}

/**
 * A CEL expression that does not parse or type-check. Thrown by `compileExpression`;
 * `summary` is the library's one-line reason, `column` is 1-based.
 */
export class ExpressionError extends DeterministicError {
  readonly [EXPRESSION_BRAND] = true;
  readonly source: string;
  readonly summary: string;
  readonly column?: number;

  constructor(source: string, summary: string, options: { column?: number; cause?: unknown } = {}) {
    const where = options.column === undefined ? '' : ` at column ${options.column}`;
    super(`${summary}${where} in expression "${source}"`, { kind: 'invalid_input', cause: options.cause });
    this.name = 'ExpressionError';
    this.source = source;
    this.summary = summary;
    this.column = options.column;
  }
}

/** Guard for `ExpressionError` across package copies. */
export function isExpressionError(e: unknown): e is ExpressionError {
  return typeof e === 'object' && e !== null && (e as Record<symbol, unknown>)[EXPRESSION_BRAND] === true;
}

const PLAIN_KEY = /^[A-Za-z0-9_-]+$/;

/** Renders a path like zod's `['steps', 3, 'needs', 0]` as `steps[3].needs[0]`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else if (typeof part === 'string' && PLAIN_KEY.test(part)) out += out === '' ? part : `.${part}`;
    else out += `[${JSON.stringify(String(part))}]`;
  }
  return out;
}

function renderIssues(issues: readonly ValidationIssue[], fileName?: string): string {
  return issues
    .map((issue) => [fileName, issue.path, issue.message].filter((part) => part !== undefined && part !== '').join(': '))
    .join('\n');
}
