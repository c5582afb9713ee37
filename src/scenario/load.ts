import { open } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import { checkSemantics, type SemanticCheckOptions } from './checks.ts';
import { ScenarioValidationError, type ValidationIssue } from './errors.ts';
import { checkRetryPolicies, resolveScenario } from './resolve.ts';
import { ScenarioInput } from './schema.ts';
import { SCENARIO_DEFAULTS, type ScenarioDef } from './types.ts';
import { issueMessage, toValidationIssues } from './zod-issues.ts';

/** Options of `validateScenario`. */
export interface ValidateScenarioOptions extends SemanticCheckOptions {
  /** Named in every error line (`examples/x.yaml: steps[3]…`). */
  fileName?: string;
}

/** Options of `parseScenario`. */
export interface ParseScenarioOptions extends ValidateScenarioOptions {
  /** Default: from the file extension, else JSON when the text starts with `{`, else YAML. */
  format?: 'yaml' | 'json';
}

/** Options of `loadScenario`. */
export interface LoadScenarioOptions extends ParseScenarioOptions {
  signal?: AbortSignal;
}

const MAX_BYTES = SCENARIO_DEFAULTS.maxFileBytes;

/** Reads, parses and validates a scenario file; the size limit is checked before reading it. */
export async function loadScenario(path: string, options: LoadScenarioOptions = {}): Promise<ScenarioDef> {
  const fileName = options.fileName ?? path;
  const fail = (message: string): never => {
    throw new ScenarioValidationError([{ path: '', message }], { fileName });
  };
  options.signal?.throwIfAborted();
  const handle = await open(path, 'r').catch((e: NodeJS.ErrnoException) =>
    fail(e.code === 'ENOENT' ? 'file not found' : `cannot open file (${e.code ?? e.message})`),
  );
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) fail('not a regular file');
    if (stats.size > MAX_BYTES) fail(tooLarge(stats.size));
    const text = await handle.readFile({ encoding: 'utf8', signal: options.signal });
    return parseScenario(text, { ...options, fileName });
  } finally {
    await handle.close();
  }
}

/** Parses YAML or JSON text and validates it; throws `ScenarioValidationError` with every issue. */
export function parseScenario(text: string, options: ParseScenarioOptions = {}): ScenarioDef {
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_BYTES) throw new ScenarioValidationError([{ path: '', message: tooLarge(bytes) }], { fileName: options.fileName });
  const raw = parseText(text.replace(/^\uFEFF/, ''), formatOf(text, options));
  if ('issues' in raw) throw new ScenarioValidationError(raw.issues, { fileName: options.fileName });
  return validateScenario(raw.value, options);
}

/** Validates an already-parsed object (an API body, or a stored `ScenarioDef`) and resolves defaults. */
export function validateScenario(value: unknown, options: ValidateScenarioOptions = {}): ScenarioDef {
  const fail = (issues: ValidationIssue[]): never => {
    throw new ScenarioValidationError(issues, { fileName: options.fileName });
  };
  if (!isRecord(value)) return fail([{ path: '', message: `a scenario must be an object with name and steps, got ${kindOf(value)}` }]);
  // Checked first so that a huge file costs one comparison, not a million zod checks.
  if (Array.isArray(value.steps) && value.steps.length > SCENARIO_DEFAULTS.maxSteps) {
    return fail([{ path: 'steps', message: `at most ${SCENARIO_DEFAULTS.maxSteps} steps are allowed, got ${value.steps.length}` }]);
  }
  const parsed = ScenarioInput.safeParse(value, { error: issueMessage });
  const issues = parsed.success ? [] : toValidationIssues(parsed.error, ScenarioInput);
  issues.push(...checkSemantics(value, options));
  let def: ScenarioDef | undefined;
  if (parsed.success) {
    def = resolveScenario(parsed.data);
    issues.push(...checkRetryPolicies(parsed.data, def));
  }
  if (issues.length > 0 || !def) return fail(inDocumentOrder(issues, Object.keys(value)));
  return def;
}

type ParsedText = { value: unknown } | { issues: ValidationIssue[] };

function formatOf(text: string, options: ParseScenarioOptions): 'yaml' | 'json' | 'sniff' {
  if (options.format) return options.format;
  const name = options.fileName?.toLowerCase() ?? '';
  if (name.endsWith('.json')) return 'json';
  if (name.endsWith('.yaml') || name.endsWith('.yml')) return 'yaml';
  return text.trimStart().startsWith('{') ? 'sniff' : 'yaml';
}

function parseText(text: string, format: 'yaml' | 'json' | 'sniff'): ParsedText {
  if (format === 'yaml') return parseYaml(text);
  const json = parseJson(text);
  if (format === 'json' || 'value' in json) return json;
  // `{name: x}` is YAML flow style, not JSON; if YAML takes it, it was YAML all along.
  const yaml = parseYaml(text);
  return 'value' in yaml ? yaml : json;
}

function parseJson(text: string): ParsedText {
  try {
    return { value: JSON.parse(text) };
  } catch (e) {
    const message = (e as Error).message;
    const position = /at position (\d+)/.exec(message);
    const reason = message.replace(/ in JSON at position \d+.*$/s, '').replace(/^JSON\.parse: /, '');
    const where = position ? ` at ${lineColumn(text, Number(position[1]))}` : '';
    return { issues: [{ path: '', message: `JSON syntax error${where}: ${reason}` }] };
  }
}

function parseYaml(text: string): ParsedText {
  const doc = parseDocument(text);
  if (doc.errors.length > 0) {
    return {
      issues: doc.errors.map((error) => {
        const pos = error.linePos?.[0];
        const where = pos ? ` at line ${pos.line}, column ${pos.col}` : '';
        // prettyErrors appends " at line…:" and a source excerpt; keep the one-line reason.
        const reason =
          error.code === 'MULTIPLE_DOCS'
            ? 'a scenario file holds one YAML document, found several'
            : error.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
        return { path: '', message: `YAML syntax error${where}: ${reason}` };
      }),
    };
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    return { issues: [{ path: '', message: `YAML error: ${(e as Error).message}` }] };
  }
  try {
    // A scenario is stored as JSON; an alias that contains itself would make it (and every walk over it) infinite.
    return { value: JSON.parse(JSON.stringify(value)) };
  } catch {
    return { issues: [{ path: '', message: 'YAML error: an alias refers to a value that contains it (recursive data)' }] };
  }
}

function lineColumn(text: string, offset: number): string {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  return `line ${line}, column ${offset - before.lastIndexOf('\n')}`;
}

/** Issues sorted like the file: by top-level field as written, then by step; stable otherwise. */
function inDocumentOrder(issues: ValidationIssue[], keys: string[]): ValidationIssue[] {
  const fieldIndex = (path: string): number => keys.indexOf(/^[^.[]*/.exec(path)?.[0] ?? '');
  const stepIndex = (path: string): number => Number(/^steps\[(\d+)\]/.exec(path)?.[1] ?? -1);
  const seen = new Set<string>();
  return issues
    .filter((issue) => {
      const key = `${issue.path}\n${issue.message}`;
      return seen.has(key) ? false : (seen.add(key), true);
    })
    .map((issue, order) => ({ issue, order }))
    .sort(
      (a, b) =>
        fieldIndex(a.issue.path) - fieldIndex(b.issue.path) || stepIndex(a.issue.path) - stepIndex(b.issue.path) || a.order - b.order,
    )
    .map(({ issue }) => issue);
}

function tooLarge(bytes: number): string {
  return `file is ${(bytes / 1024 / 1024).toFixed(1)} MiB (${bytes} bytes); the limit is 1 MiB (${MAX_BYTES} bytes)`;
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'string' ? 'a string' : typeof value;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
