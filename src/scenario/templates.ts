import { DeterministicError } from '../errors.ts';
import { compileExpression, isPreparedContext, prepareContext, reasonOf, type CompiledExpression, type ExpressionContext, type ExpressionReferences, type PreparedContext } from './cel.ts';
import { formatPath } from './errors.ts';
import { copier } from './json-copy.ts';

/**
 * `{{ expr }}` templates inside the string values of a step's `with` (SPEC §3). Object
 * keys are never templated. Templates are compiled once per scenario and rendered on
 * every attempt, so rendering only walks a prebuilt tree.
 */

/** One template found in a value: where it is, its raw text and its CEL source. */
export interface TemplateRef {
  path: (string | number)[];
  /** As written, braces included: `{{ input.user }}`. */
  raw: string;
  expression: string;
  /** Set when the template is malformed (unclosed or empty); `expression` is then unusable. */
  syntaxError?: string;
}

/** A `with` value with its templates compiled; `render` evaluates them for one attempt. */
export interface TemplateRenderer {
  readonly hasTemplates: boolean;
  readonly references: ExpressionReferences;
  render(context: ExpressionContext | PreparedContext): unknown;
}

interface Span {
  start: number;
  end: number;
  expression: string;
  error?: string;
}

type Part = string | { raw: string; expr: CompiledExpression };
/** `copy` is made on first render; see `copy` below. */
type ConstNode = { kind: 'const'; value: unknown; copy?: () => unknown };
type Node =
  | ConstNode
  | { kind: 'whole'; raw: string; expr: CompiledExpression; path: string }
  | { kind: 'interpolate'; parts: Part[]; path: string }
  | { kind: 'array'; items: Node[] }
  | { kind: 'object'; entries: [string, Node][] };

/** Finds `{{ … }}` spans; braces and quotes inside the expression (map literals, strings) are respected. */
function scan(text: string): Span[] {
  const spans: Span[] = [];
  let from = 0;
  for (let open = text.indexOf('{{', from); open !== -1; open = text.indexOf('{{', from)) {
    const close = findClose(text, open + 2);
    if (close === -1) {
      spans.push({ start: open, end: text.length, expression: '', error: `unclosed template "${text.slice(open, open + 40)}": missing "}}"` });
      break;
    }
    const expression = text.slice(open + 2, close).trim();
    const span: Span = { start: open, end: close + 2, expression };
    if (expression === '') span.error = 'empty template "{{ }}"';
    spans.push(span);
    from = close + 2;
  }
  return spans;
}

function findClose(text: string, from: number): number {
  let depth = 0;
  let quote: string | undefined;
  for (let i = from; i < text.length; i++) {
    const ch = text[i];
    if (quote) {
      if (ch === '\\') i++;
      else if (ch === quote) quote = undefined;
    } else if (ch === '"' || ch === "'") quote = ch;
    else if (ch === '{') depth++;
    else if (ch === '}' && depth > 0) depth--;
    else if (ch === '}' && text[i + 1] === '}') return i;
  }
  return -1;
}

/** Lists every template in `value` (recursively through objects and arrays), for validation. */
export function collectTemplates(value: unknown, path: (string | number)[] = []): TemplateRef[] {
  if (typeof value === 'string') {
    return scan(value).map((span) => ({
      path,
      raw: value.slice(span.start, span.end),
      expression: span.expression,
      ...(span.error ? { syntaxError: span.error } : {}),
    }));
  }
  if (Array.isArray(value)) return value.flatMap((item, i) => collectTemplates(item, [...path, i]));
  if (isRecord(value)) return Object.entries(value).flatMap(([key, item]) => collectTemplates(item, [...path, key]));
  return [];
}

/** Compiles every template in `value` once; throws on a malformed template or bad CEL. */
export function compileTemplates(value: unknown): TemplateRenderer {
  const steps = new Set<string>();
  const secrets = new Set<string>();
  const references: ExpressionReferences = { steps: [], secrets: [], dynamicSteps: false, dynamicSecrets: false };
  const compile = (source: string): CompiledExpression => {
    const expr = compileExpression(source);
    expr.references.steps.forEach((id) => steps.add(id));
    expr.references.secrets.forEach((name) => secrets.add(name));
    references.dynamicSteps ||= expr.references.dynamicSteps;
    references.dynamicSecrets ||= expr.references.dynamicSecrets;
    return expr;
  };
  const root = build(value, [], compile);
  references.steps = [...steps];
  references.secrets = [...secrets];
  return {
    hasTemplates: root.kind !== 'const',
    references,
    render(context) {
      if (root.kind === 'const') return copy(root);
      return renderNode(root, isPreparedContext(context) ? context : prepareContext(context));
    },
  };
}

/** Renders the templates of `value` against `context` (compiles on each call; prefer `compileTemplates`). */
export function renderTemplates(value: unknown, context: ExpressionContext | PreparedContext): unknown {
  return compileTemplates(value).render(context);
}

function build(value: unknown, path: (string | number)[], compile: (source: string) => CompiledExpression): Node {
  if (typeof value === 'string') return buildString(value, path, compile);
  if (Array.isArray(value)) {
    const items = value.map((item, i) => build(item, [...path, i], compile));
    return items.every((item) => item.kind === 'const') ? { kind: 'const', value } : { kind: 'array', items };
  }
  if (isRecord(value)) {
    const entries = Object.entries(value).map(([key, item]): [string, Node] => [key, build(item, [...path, key], compile)]);
    return entries.every(([, node]) => node.kind === 'const') ? { kind: 'const', value } : { kind: 'object', entries };
  }
  return { kind: 'const', value };
}

function buildString(text: string, path: (string | number)[], compile: (source: string) => CompiledExpression): Node {
  const spans = scan(text);
  if (spans.length === 0) return { kind: 'const', value: text };
  const where = formatPath(['with', ...path]);
  const bad = spans.find((span) => span.error);
  if (bad?.error) throw new DeterministicError(`${where}: ${bad.error}`, { kind: 'invalid_input' });
  if (spans.length === 1 && spans[0].start === 0 && spans[0].end === text.length) {
    return { kind: 'whole', raw: text, expr: compile(spans[0].expression), path: where };
  }
  const parts: Part[] = [];
  let last = 0;
  for (const span of spans) {
    if (span.start > last) parts.push(text.slice(last, span.start));
    parts.push({ raw: text.slice(span.start, span.end), expr: compile(span.expression) });
    last = span.end;
  }
  if (last < text.length) parts.push(text.slice(last));
  return { kind: 'interpolate', parts, path: where };
}

function renderNode(node: Node, context: PreparedContext): unknown {
  switch (node.kind) {
    case 'const':
      return copy(node);
    case 'whole':
      return evaluateTemplate(node.raw, node.expr, node.path, context);
    case 'interpolate':
      return node.parts
        .map((part) => (typeof part === 'string' ? part : stringify(evaluateTemplate(part.raw, part.expr, node.path, context))))
        .join('');
    case 'array':
      return node.items.map((item) => renderNode(item, context));
    case 'object':
      return Object.fromEntries(node.entries.map(([key, item]) => [key, renderNode(item, context)]));
  }
}

function evaluateTemplate(raw: string, expr: CompiledExpression, path: string, context: PreparedContext): unknown {
  try {
    return expr.evaluate(context);
  } catch (e) {
    // Name the template as written, with the evaluator's reason (not the wrapper's message).
    const cause = e instanceof Error && e.cause !== undefined ? e.cause : e;
    throw new DeterministicError(`template "${raw}": ${reasonOf(cause)}`, { kind: 'invalid_input', cause: e, details: { path, expression: expr.source } });
  }
}

function stringify(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** Constants are shared by every attempt, so a handler that mutates its input must not see a previous attempt's edits. */
function copy(node: ConstNode): unknown {
  return (node.copy ??= copier(node.value))();
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
