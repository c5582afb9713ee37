import { Environment, type ASTNode, type ParseResult } from '@marcbachmann/cel-js';
import { DeterministicError } from '../errors.ts';
import { fromCelValue, toCelValue } from './cel-values.ts';
import { ExpressionError } from './errors.ts';

/** What one step exposes to expressions: `steps.<id>.output` and `steps.<id>.status`. */
export interface StepContext {
  output: unknown;
  status: string;
}

/** The variables of SPEC §3. `secrets` exists only while rendering `with` templates. */
export interface ExpressionContext {
  input: Record<string, unknown>;
  steps: Record<string, StepContext>;
  run: { id: string; attempt: number };
  secrets?: Record<string, string>;
}

/** A context already converted to CEL values; reuse it to evaluate many expressions. */
export interface PreparedContext {
  readonly [PREPARED]: true;
}

/** The step ids and secret names an expression reads. */
export interface ExpressionReferences {
  steps: string[];
  secrets: string[];
  /** `steps` used other than as `steps.ID` / `steps['ID']`: the ids read are unknowable. */
  dynamicSteps: boolean;
  /** `secrets` used other than as `secrets.NAME` / `secrets['NAME']`. */
  dynamicSecrets: boolean;
}

/** A parsed, type-checked CEL expression; evaluate it as often as needed. */
export interface CompiledExpression {
  readonly source: string;
  readonly references: ExpressionReferences;
  /** The CEL type the checker infers (`bool`, `int`, `dyn`, …); `dyn` when only known at run time. */
  readonly type: string;
  /** Evaluates to a plain JSON value; throws `DeterministicError` (`invalid_input`) on failure. */
  evaluate(context: ExpressionContext | PreparedContext): unknown;
  /** Evaluates and requires a bool, as `if` and `assert` do. */
  test(context: ExpressionContext | PreparedContext): boolean;
}

declare const PREPARED: unique symbol;
const VARIABLES = ['input', 'steps', 'run', 'secrets'] as const;
let environment: Environment | undefined;

/** Built lazily: building an Environment is the expensive part, and importing must stay cheap. */
function celEnvironment(): Environment {
  if (environment) return environment;
  const env = new Environment({ unlistedVariablesAreDyn: false, homogeneousAggregateLiterals: false, enableOptionalTypes: true });
  for (const name of VARIABLES) env.registerVariable(name, 'map');
  // CEL has no mixed int/double arithmetic; JSON users expect `price * 2` to work (SPEC §3).
  const mixed: Record<string, (a: number, b: number) => number> = {
    '+': (a, b) => a + b,
    '-': (a, b) => a - b,
    '*': (a, b) => a * b,
    '/': (a, b) => a / b,
  };
  for (const [op, fn] of Object.entries(mixed)) {
    env.registerOperator(`int ${op} double`, (a: bigint, b: number) => fn(Number(a), b));
    env.registerOperator(`double ${op} int`, (a: number, b: bigint) => fn(a, Number(b)));
  }
  environment = env;
  return env;
}

/**
 * The CEL variables of one context, each converted the first time an expression reads it:
 * the worker prepares a context for every attempt, and most attempts evaluate nothing.
 */
class LazyCelContext {
  readonly #context: ExpressionContext;
  #input: unknown;
  #steps: unknown;
  #run: unknown;
  #secrets: Record<string, string> | undefined;

  constructor(context: ExpressionContext) {
    this.#context = context;
  }

  get input(): unknown {
    return (this.#input ??= toCelValue(this.#context.input ?? {}));
  }

  get steps(): unknown {
    return (this.#steps ??= toCelValue(this.#context.steps ?? {}));
  }

  get run(): unknown {
    return (this.#run ??= toCelValue(this.#context.run ?? {}));
  }

  get secrets(): Record<string, string> {
    return (this.#secrets ??= this.#context.secrets ?? {});
  }
}

/**
 * Prepares a context so that several expressions can be evaluated against it; each variable
 * is converted once, on first use, so the context must not change after this call.
 */
export function prepareContext(context: ExpressionContext): PreparedContext {
  return new LazyCelContext(context) as unknown as PreparedContext;
}

/** True for contexts made by `prepareContext`. */
export function isPreparedContext(context: ExpressionContext | PreparedContext): context is PreparedContext {
  return context instanceof LazyCelContext;
}

/** Parses and type-checks `source`; throws `ExpressionError` naming the problem and column. */
export function compileExpression(source: string): CompiledExpression {
  const parsed = parseOrThrow(source);
  const checked = parsed.check();
  if (!checked.valid && checked.error) throw toExpressionError(source, checked.error);
  const references = collectReferences(parsed.ast);
  const evaluate = (context: ExpressionContext | PreparedContext): unknown => {
    const cel = isPreparedContext(context) ? context : prepareContext(context);
    let result: unknown;
    try {
      result = parsed(cel as unknown as Record<string, unknown>);
    } catch (e) {
      throw new DeterministicError(`expression "${source}": ${reasonOf(e)}`, { kind: 'invalid_input', cause: e, details: { expression: source } });
    }
    return fromCelValue(result);
  };
  return {
    source,
    references,
    type: checked.type ?? 'dyn',
    evaluate,
    test(context) {
      const value = evaluate(context);
      if (typeof value !== 'boolean') {
        throw new DeterministicError(`expression "${source}" must be a bool, got ${JSON.stringify(value)}`, { kind: 'invalid_input' });
      }
      return value;
    },
  };
}

/** Step ids read as `steps.ID`, `steps['ID']` or `steps["ID"]` (hyphenated ids need the index form). */
export function referencedSteps(source: string): string[] {
  return collectReferences(parseOrThrow(source).ast).steps;
}

/** Secret names read as `secrets.NAME` or `secrets['NAME']`. */
export function referencesSecrets(source: string): string[] {
  return collectReferences(parseOrThrow(source).ast).secrets;
}

/** The library's one-line reason for a failure, lower-cased to sit after a colon. */
export function reasonOf(e: unknown): string {
  const summary = (e as { summary?: unknown })?.summary;
  const text = typeof summary === 'string' ? summary : e instanceof Error ? e.message : String(e);
  return text.charAt(0).toLowerCase() + text.slice(1);
}

function parseOrThrow(source: string): ParseResult {
  try {
    return celEnvironment().parse(source);
  } catch (e) {
    throw toExpressionError(source, e);
  }
}

function toExpressionError(source: string, e: unknown): ExpressionError {
  const start = (e as { range?: { start?: unknown } })?.range?.start;
  return new ExpressionError(source, reasonOf(e), { column: typeof start === 'number' ? start + 1 : undefined, cause: e });
}

function isNode(value: unknown): value is ASTNode {
  return typeof value === 'object' && value !== null && 'op' in value && 'args' in value;
}

function rootName(node: ASTNode): string | undefined {
  return node.op === 'id' && (node.args === 'steps' || node.args === 'secrets') ? node.args : undefined;
}

function collectReferences(ast: ASTNode): ExpressionReferences {
  const found = { steps: new Set<string>(), secrets: new Set<string>() };
  const refs: ExpressionReferences = { steps: [], secrets: [], dynamicSteps: false, dynamicSecrets: false };
  const dynamic = (root: string): void => {
    if (root === 'steps') refs.dynamicSteps = true;
    else refs.dynamicSecrets = true;
  };
  const visit = (value: unknown): void => {
    if (Array.isArray(value)) return value.forEach(visit);
    if (!isNode(value)) return;
    const node = value;
    if ((node.op === '.' || node.op === '.?') && isNode(node.args[0])) {
      const root = rootName(node.args[0]);
      if (root) return void found[root as 'steps' | 'secrets'].add(node.args[1]);
    }
    if ((node.op === '[]' || node.op === '[?]') && isNode(node.args[0])) {
      const root = rootName(node.args[0]);
      const key = node.args[1];
      if (root && key.op === 'value' && typeof key.args === 'string') return void found[root as 'steps' | 'secrets'].add(key.args);
      if (root) {
        dynamic(root);
        return visit(key);
      }
    }
    const bare = rootName(node);
    if (bare) return dynamic(bare);
    visit(node.args);
  };
  visit(ast);
  refs.steps = [...found.steps];
  refs.secrets = [...found.secrets];
  return refs;
}
