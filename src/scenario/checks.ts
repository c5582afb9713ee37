import { compileExpression, type ExpressionReferences } from './cel.ts';
import { findCycles, findDuplicateIds, findUnknownNeeds, isUpstream, type DagNode } from './dag.ts';
import { formatPath, isExpressionError, type ValidationIssue } from './errors.ts';
import { didYouMean } from './suggest.ts';
import { collectTemplates } from './templates.ts';

/**
 * The checks zod cannot express: the step graph, handler names, groups, and the CEL in
 * `if`, templates and `assert`. They read the raw object defensively, so they run even
 * when zod found problems and every issue is reported in one go.
 */

export interface SemanticCheckOptions {
  /** Handler names workers know; omitted means the check is skipped. */
  knownHandlers?: Iterable<string>;
}

interface StepShape {
  index: number;
  id?: string;
  uses?: string;
  /** Raw entries, so `needs[j]` paths keep their position even around bad entries. */
  needs: unknown[];
  if?: string;
  with: unknown;
  group?: string;
  credentials: Set<string>;
}

interface ScenarioShape {
  steps: StepShape[];
  /** Undefined when `groups` is malformed: zod reports that, group names cannot be checked. */
  groups?: Set<string>;
}

/** Reports every graph, handler, group and expression problem of a raw scenario object. */
export function checkSemantics(raw: Record<string, unknown>, options: SemanticCheckOptions = {}): ValidationIssue[] {
  const shape = shapeOf(raw);
  const nodes: (DagNode & { index: number })[] = shape.steps.flatMap((step) =>
    step.id === undefined ? [] : [{ index: step.index, id: step.id, needs: step.needs.map((need) => (typeof need === 'string' ? need : '')) }],
  );
  const ids = nodes.map((node) => node.id);
  const issues: ValidationIssue[] = [];
  const add = (path: PropertyKey[], message: string): void => void issues.push({ path: formatPath(path), message });

  for (const dup of findDuplicateIds(nodes)) {
    add(['steps', nodes[dup.index].index, 'id'], `duplicate step id "${dup.id}" (also steps[${nodes[dup.firstIndex].index}])`);
  }
  for (const unknown of findUnknownNeeds(nodes)) {
    const step = shape.steps[nodes[unknown.index].index];
    if (typeof step.needs[unknown.needIndex] !== 'string') continue;
    add(['steps', step.index, 'needs', unknown.needIndex], `unknown step "${unknown.id}"${didYouMean(unknown.id, ids)}`);
  }
  for (const cycle of findCycles(nodes)) add(['steps', nodes[cycle.index].index, 'needs'], `cycle: ${cycle.ids.join(' -> ')}`);

  const handlers = options.knownHandlers ? new Set(options.knownHandlers) : undefined;
  for (const step of shape.steps) {
    if (handlers && step.uses !== undefined && !handlers.has(step.uses)) {
      add(['steps', step.index, 'uses'], `unknown handler "${step.uses}"${didYouMean(step.uses, handlers)}`);
    }
    if (shape.groups && step.group !== undefined && !shape.groups.has(step.group)) {
      const hint = shape.groups.size === 0 ? ' (no groups are declared)' : didYouMean(step.group, shape.groups);
      add(['steps', step.index, 'group'], `unknown group "${step.group}"${hint}`);
    }
    issues.push(...checkExpressions(step, nodes, ids));
  }
  return issues;
}

function checkExpressions(step: StepShape, nodes: readonly DagNode[], ids: readonly string[]): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const ctx = { step, nodes, ids, issues };
  if (step.if !== undefined) checkExpression(ctx, ['steps', step.index, 'if'], step.if, 'expression');
  // `assert` evaluates `with.that` as CEL, so it is checked like an `if` (SPEC §4).
  const that = isRecord(step.with) ? step.with.that : undefined;
  if (step.uses === 'assert' && typeof that === 'string' && !that.includes('{{')) {
    checkExpression(ctx, ['steps', step.index, 'with', 'that'], that, 'expression');
  }
  for (const template of collectTemplates(step.with)) {
    const path = ['steps', step.index, 'with', ...template.path];
    if (template.syntaxError) issues.push({ path: formatPath(path), message: template.syntaxError });
    else checkExpression(ctx, path, template.expression, `template "${template.raw}"`);
  }
  return issues;
}

interface ExpressionCheck {
  step: StepShape;
  nodes: readonly DagNode[];
  ids: readonly string[];
  issues: ValidationIssue[];
}

function checkExpression(ctx: ExpressionCheck, path: PropertyKey[], source: string, what: string): void {
  const add = (message: string): void => void ctx.issues.push({ path: formatPath(path), message });
  const inTemplate = what !== 'expression';
  let references: ExpressionReferences;
  try {
    const compiled = compileExpression(source);
    references = compiled.references;
    // `if` and `that` decide something; a type known not to be bool can never decide.
    if (!inTemplate && compiled.type !== 'bool' && compiled.type !== 'dyn') add(`must be a bool expression, got ${compiled.type}`);
  } catch (e) {
    if (!isExpressionError(e)) throw e;
    const column = e.column === undefined ? '' : ` at column ${e.column}`;
    return add(`${inTemplate ? `${what}: ` : ''}${e.summary}${column}${hyphenHint(source, ctx.ids)}`);
  }
  const suffix = inTemplate ? ' in template' : '';
  if (references.dynamicSteps) add(`steps must be read with a literal id (steps.ID or steps['ID'])${suffix}`);
  for (const id of references.steps) {
    if (!ctx.ids.includes(id)) add(`unknown step "${id}"${suffix}${stepHint(id, source, ctx.ids)}`);
    else if (id === ctx.step.id) add(`a step cannot read its own output or status ("${id}")${suffix}`);
    else if (ctx.step.id !== undefined && !isUpstream(ctx.nodes, ctx.step.id, id)) {
      add(`step "${id}"${suffix} is not upstream of "${ctx.step.id}": add it to needs (directly or through another step)`);
    }
  }
  if (!inTemplate && (references.secrets.length > 0 || references.dynamicSecrets)) {
    add('secrets are only available in with templates, never in conditions or assertions');
    return;
  }
  if (references.dynamicSecrets) add(`secrets must be read by name (secrets.NAME)${suffix}`);
  for (const name of references.secrets) {
    if (!ctx.step.credentials.has(name)) add(`secret "${name}" is not declared in the step's or the scenario's credentials`);
  }
}

function stepHint(id: string, source: string, ids: readonly string[]): string {
  return hyphenHint(source, ids) || didYouMean(id, ids);
}

/** `steps.premium-path` parses as `steps.premium - path`; point users to the index form. */
function hyphenHint(source: string, ids: readonly string[]): string {
  const hyphenated = ids.find((known) => known.includes('-') && source.includes(`steps.${known}`));
  return hyphenated ? ` (ids with "-" must be written steps['${hyphenated}'])` : '';
}

function shapeOf(raw: Record<string, unknown>): ScenarioShape {
  const defaults = isRecord(raw.defaults) ? raw.defaults : {};
  const shared = [...strings(raw.credentials), ...strings(defaults.credentials)];
  const steps = Array.isArray(raw.steps) ? raw.steps : [];
  return {
    groups: raw.groups === undefined ? new Set() : isRecord(raw.groups) ? new Set(Object.keys(raw.groups)) : undefined,
    steps: steps.map((value, index): StepShape => {
      const step = isRecord(value) ? value : {};
      const condition = typeof step.if === 'boolean' ? String(step.if) : step.if;
      return {
        index,
        id: typeof step.id === 'string' ? step.id : undefined,
        uses: typeof step.uses === 'string' ? step.uses : undefined,
        needs: typeof step.needs === 'string' ? [step.needs] : Array.isArray(step.needs) ? step.needs : [],
        if: typeof condition === 'string' && condition.trim() !== '' ? condition : undefined,
        with: step.with,
        group: typeof step.group === 'string' ? step.group : undefined,
        credentials: new Set([...shared, ...strings(step.credentials)]),
      };
    }),
  };
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : [];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
