import type * as z from 'zod';
import { formatPath, type ValidationIssue } from './errors.ts';
import { didYouMean } from './suggest.ts';

/**
 * Turns zod issues into the short, field-first messages users read in `validate`
 * output: `steps[0].timeoutMs: expected an integer, got 1.5`. Messages given in the
 * schema itself win over these defaults.
 */

/** Per-parse error map: plain-language defaults for the issue codes a scenario hits. */
export const issueMessage: z.core.$ZodErrorMap = (issue) => {
  switch (issue.code) {
    case 'invalid_type':
      if (issue.input === undefined) return 'is required';
      return `expected ${issue.expected === 'int' ? 'an integer' : issue.expected}, got ${describe(issue.input)}`;
    case 'too_small':
      if (issue.origin === 'array') return `must have at least ${issue.minimum} item${Number(issue.minimum) === 1 ? '' : 's'}`;
      if (issue.origin === 'string') return Number(issue.minimum) === 1 ? 'must not be empty' : `must be at least ${issue.minimum} characters`;
      return `must be ${issue.inclusive ? '≥' : '>'} ${issue.minimum}, got ${describe(issue.input)}`;
    case 'too_big':
      if (issue.origin === 'array') return `must have at most ${issue.maximum} items`;
      if (issue.origin === 'string') return `must be at most ${issue.maximum} characters`;
      return `must be ${issue.inclusive ? '≤' : '<'} ${issue.maximum}, got ${describe(issue.input)}`;
    case 'invalid_value':
      return `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}, got ${describe(issue.input)}`;
    case 'invalid_format':
      return `has an invalid format, got ${describe(issue.input)}`;
    case 'invalid_key':
      return `invalid key ${describe(issue.input)}`;
    default:
      return undefined;
  }
};

/** One `ValidationIssue` per zod issue; an unknown field is reported at its own path. */
export function toValidationIssues(error: z.ZodError, schema: z.ZodType): ValidationIssue[] {
  return error.issues.flatMap((issue): ValidationIssue[] => {
    if (issue.code === 'unrecognized_keys') {
      const known = objectKeysAt(schema, issue.path);
      return issue.keys.map((key) => ({ path: formatPath([...issue.path, key]), message: `unknown field${didYouMean(key, known)}` }));
    }
    return [{ path: formatPath(issue.path), message: issue.message }];
  });
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  return String(value);
}

interface SchemaDef {
  type: string;
  innerType?: z.ZodType;
  out?: z.ZodType;
  in?: z.ZodType;
  shape?: Record<string, z.ZodType>;
  element?: z.ZodType;
  valueType?: z.ZodType;
}

function defOf(schema: z.ZodType): SchemaDef {
  return (schema as unknown as { _zod: { def: SchemaDef } })._zod.def;
}

/** The field names the schema allows at `path`, for "did you mean" hints. */
function objectKeysAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  let current: z.ZodType | undefined = schema;
  let i = 0;
  while (current) {
    const def = defOf(current);
    if (def.type === 'optional' || def.type === 'default' || def.type === 'nullable') current = def.innerType;
    else if (def.type === 'pipe') current = def.out && defOf(def.out).type !== 'transform' ? def.out : def.in;
    else if (i === path.length) return def.type === 'object' && def.shape ? Object.keys(def.shape) : [];
    else if (def.type === 'object') current = def.shape?.[String(path[i++])];
    else if (def.type === 'array') (current = def.element), i++;
    else if (def.type === 'record') (current = def.valueType), i++;
    else return [];
  }
  return [];
}
