import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  SCENARIO_DEFAULTS,
  isScenarioValidationError,
  loadScenario,
  parseScenario,
  validateScenario,
  type ParseScenarioOptions,
  type ScenarioValidationError,
} from '../../src/scenario/index.ts';

const HANDLERS = ['noop', 'echo', 'sleep', 'http', 'llm', 'assert', 'fault'];

/** The error lines `parseScenario` reports for `text`, in order. */
function errorsOf(text: string, options: ParseScenarioOptions = { knownHandlers: HANDLERS }): string[] {
  try {
    parseScenario(text, options);
  } catch (e) {
    if (!isScenarioValidationError(e)) throw e;
    return e.issues.map((issue) => (issue.path ? `${issue.path}: ${issue.message}` : issue.message));
  }
  throw new Error('expected the scenario to be invalid');
}

/** A minimal valid scenario with `steps` (YAML lines, already indented under `steps:`). */
const scenario = (steps: string, head = ''): string => `name: s\n${head}steps:\n${steps}`;

describe('parseScenario: the SPEC §2 example', () => {
  it('loads examples/checkout-journey.yaml with the built-in handlers', async () => {
    const def = await loadScenario('examples/checkout-journey.yaml', { knownHandlers: HANDLERS });
    expect(def.name).toBe('checkout-journey');
    expect(def.steps.map((s) => s.id)).toEqual(['login', 'plan', 'premium-path', 'basic-path', 'verify', 'teardown']);
    expect(def).toMatchObject({
      timeoutMs: 900000,
      failFast: false,
      maxParallel: 4,
      input: { baseUrl: 'http://127.0.0.1:8080', user: 'alice' },
      onMissingCredentials: 'skip',
      budget: { usd: 2.5, tokens: 200000, calls: 200, onExceed: 'fail' },
      groups: { checkout: { timeoutMs: 120000 } },
    });
    expect(def.steps[5]).toMatchObject({ if: 'true', continueOnError: true });
  });

  it('merges defaults into every step and fills built-in defaults', async () => {
    const def = await loadScenario('examples/checkout-journey.yaml');
    const plan = def.steps[1];
    expect(plan).toEqual({
      id: 'plan',
      uses: 'llm',
      needs: ['login'],
      service: 'openai',
      with: { model: 'gpt-4o-mini', prompt: 'Plan a checkout for {{ steps.login.output.body.name }}' },
      cost: { tokens: 3000 },
      timeoutMs: 30000,
      retry: {
        attempts: 3,
        backoff: { type: 'exponential', delayMs: 1000, multiplier: 2, maxDelayMs: 60000, jitter: 'full' },
        retryOn: [],
      },
      continueOnError: false,
      credentials: ['OPENAI_API_KEY'],
      onMissingCredentials: 'skip',
      isolation: 'inline',
    });
  });
});

describe('parseScenario: defaults', () => {
  it('uses the built-in defaults for an empty file header', () => {
    const def = parseScenario(scenario('  - { id: a, uses: noop }\n'));
    expect(def).toEqual({
      name: 's',
      timeoutMs: SCENARIO_DEFAULTS.timeoutMs,
      failFast: false,
      maxParallel: 16,
      input: {},
      credentials: [],
      onMissingCredentials: 'skip',
      groups: {},
      steps: [
        {
          id: 'a',
          uses: 'noop',
          with: {},
          needs: [],
          timeoutMs: 30000,
          retry: SCENARIO_DEFAULTS.retry,
          continueOnError: false,
          credentials: [],
          onMissingCredentials: 'skip',
          isolation: 'inline',
        },
      ],
    });
  });

  it('merges a partial step retry over defaults.retry, backoff field by field', () => {
    const def = parseScenario(
      scenario(
        '  - { id: a, uses: noop, retry: { backoff: { delayMs: 10 }, retryOn: [error] } }\n  - { id: b, uses: noop }\n',
        'defaults:\n  retry: { attempts: 5, backoff: { type: fixed, delayMs: 100, maxDelayMs: 500 } }\n',
      ),
    );
    expect(def.steps[0].retry).toEqual({
      attempts: 5,
      backoff: { type: 'fixed', delayMs: 10, multiplier: 2, maxDelayMs: 500, jitter: 'full' },
      retryOn: ['error'],
    });
    expect(def.steps[1].retry.backoff).toMatchObject({ type: 'fixed', delayMs: 100, maxDelayMs: 500 });
  });

  it('lets a step override defaults and the scenario-level credential policy', () => {
    const def = parseScenario(
      scenario(
        '  - { id: a, uses: noop, timeoutMs: 5, credentials: [B], onMissingCredentials: fail, isolation: process }\n  - { id: b, uses: noop }\n',
        'credentials: [A]\nonMissingCredentials: mock\ndefaults: { timeoutMs: 7, isolation: inline }\n',
      ),
    );
    expect(def.steps[0]).toMatchObject({ timeoutMs: 5, credentials: ['A', 'B'], onMissingCredentials: 'fail', isolation: 'process' });
    expect(def.steps[1]).toMatchObject({ timeoutMs: 7, credentials: ['A'], onMissingCredentials: 'mock', isolation: 'inline' });
  });

  it('accepts `needs: x` and an unquoted `if: true`', () => {
    const def = parseScenario(scenario('  - { id: a, uses: noop }\n  - { id: b, uses: noop, needs: a, if: true }\n'));
    expect(def.steps[1]).toMatchObject({ needs: ['a'], if: 'true' });
  });

  it('returns a resolved scenario that validates to itself (workers re-validate stored definitions)', async () => {
    const def = await loadScenario('examples/checkout-journey.yaml');
    expect(validateScenario(JSON.parse(JSON.stringify(def)))).toEqual(def);
  });
});

describe('parseScenario: YAML and JSON', () => {
  const json = JSON.stringify({ name: 'j', steps: [{ id: 'a', uses: 'noop' }] }, null, 2);

  it('parses JSON, by file name or by sniffing', () => {
    expect(parseScenario(json, { fileName: 'x.json' }).name).toBe('j');
    expect(parseScenario(json).name).toBe('j');
  });

  it('reports a JSON syntax error with line and column', () => {
    const broken = '{\n  "name": "j",\n  "steps": [ { "id": "a" "uses": "noop" } ]\n}';
    expect(errorsOf(broken, { fileName: 'x.json' })).toEqual([expect.stringMatching(/^JSON syntax error at line 3, column 26: Expected ',' or '}' after property value$/)]);
  });

  it('reports a YAML syntax error with line and column', () => {
    expect(errorsOf('name: x\nsteps:\n  - id: a\n   uses: noop\n')).toEqual([
      expect.stringMatching(/^YAML syntax error at line 4, column \d+: /),
    ]);
    expect(errorsOf('name: x\nname: y\nsteps: []\n')).toEqual(['YAML syntax error at line 2, column 1: Map keys must be unique']);
  });

  it('refuses recursive YAML aliases', () => {
    expect(errorsOf('name: s\nsteps:\n  - &x { id: a, uses: noop, with: { self: *x } }\n')).toEqual([
      'YAML error: an alias refers to a value that contains it (recursive data)',
    ]);
  });

  it('refuses a file that is not an object', () => {
    expect(errorsOf('- a\n- b\n')).toEqual(['a scenario must be an object with name and steps, got an array']);
  });

  it('refuses text over 1 MiB', () => {
    expect(errorsOf(`name: x\ndescription: "${'x'.repeat(SCENARIO_DEFAULTS.maxFileBytes)}"\n`)[0]).toMatch(/the limit is 1 MiB/);
  });
});

describe('loadScenario: files', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sq-scenario-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('checks the size before reading, and names the file', async () => {
    const file = join(dir, 'big.yaml');
    await writeFile(file, Buffer.alloc(SCENARIO_DEFAULTS.maxFileBytes + 1, 0x20));
    const error = (await loadScenario(file).catch((e: unknown) => e)) as ScenarioValidationError;
    expect(error.format()).toBe(`${file}: file is 1.0 MiB (1048577 bytes); the limit is 1 MiB (1048576 bytes)`);
  });

  it('names a missing file', async () => {
    const error = (await loadScenario(join(dir, 'nope.yaml')).catch((e: unknown) => e)) as ScenarioValidationError;
    expect(isScenarioValidationError(error)).toBe(true);
    expect(error.format('nope.yaml')).toBe('nope.yaml: file not found');
  });
});

describe('validation rules (SPEC §2): each error with its path', () => {
  it('rejects unknown fields at every level, suggesting the right one', () => {
    const text = `name: s\ntimeoutMz: 5\ndefaults: { retry: { backof: {} } }\ngroups: { g: { timeout: 1 } }\nbudget: { usd: 1, onExced: warn }\nsteps:\n  - { id: a, uses: noop, need: [], retry: { backoff: { jiter: none } }, mock: { output: 1, extra: 2 } }\n`;
    expect(errorsOf(text)).toEqual([
      'timeoutMz: unknown field (did you mean "timeoutMs"?)',
      'defaults.retry.backof: unknown field (did you mean "backoff"?)',
      'groups.g.timeoutMs: is required',
      'groups.g.timeout: unknown field (did you mean "timeoutMs"?)',
      'budget.onExced: unknown field (did you mean "onExceed"?)',
      'steps[0].retry.backoff.jiter: unknown field (did you mean "jitter"?)',
      'steps[0].mock.extra: unknown field',
      'steps[0].need: unknown field (did you mean "needs"?)',
    ]);
  });

  it('checks the scenario name and step id formats', () => {
    expect(errorsOf('name: Checkout_Journey\nsteps:\n  - { id: "a b", uses: noop }\n')).toEqual([
      'name: must be lowercase letters, digits and "-", starting with a letter or digit, at most 63 characters',
      'steps[0].id: must be 1-64 letters, digits, "_" or "-"',
    ]);
    expect(errorsOf('steps:\n  - { id: a, uses: noop }\n')).toEqual(['name: is required']);
  });

  it('reports an unknown handler only when the known handlers are given', () => {
    const text = scenario('  - { id: a, uses: htp }\n');
    expect(errorsOf(text)).toEqual(['steps[0].uses: unknown handler "htp" (did you mean "http"?)']);
    expect(parseScenario(text).steps[0].uses).toBe('htp');
  });

  it('reports unknown needs with their index', () => {
    const text = scenario('  - { id: login, uses: noop }\n  - { id: b, uses: noop }\n  - { id: c, uses: noop }\n  - { id: d, uses: noop, needs: [lgoin, b, zzz] }\n');
    expect(errorsOf(text)).toEqual(['steps[3].needs[0]: unknown step "lgoin" (did you mean "login"?)', 'steps[3].needs[2]: unknown step "zzz"']);
  });

  it('reports duplicate ids', () => {
    expect(errorsOf(scenario('  - { id: a, uses: noop }\n  - { id: a, uses: noop }\n'))).toEqual(['steps[1].id: duplicate step id "a" (also steps[0])']);
  });

  it('names cycles', () => {
    const text = scenario('  - { id: a, uses: noop, needs: [c] }\n  - { id: b, uses: noop, needs: [a] }\n  - { id: c, uses: noop, needs: [b] }\n');
    expect(errorsOf(text)).toEqual(['steps[0].needs: cycle: a -> c -> b -> a']);
  });

  it('reports a group not in groups', () => {
    const text = scenario('  - { id: a, uses: noop, group: chekout }\n', 'groups: { checkout: { timeoutMs: 1000 } }\n');
    expect(errorsOf(text)).toEqual(['steps[0].group: unknown group "chekout" (did you mean "checkout"?)']);
    expect(errorsOf(scenario('  - { id: a, uses: noop, group: g }\n'))).toEqual(['steps[0].group: unknown group "g" (no groups are declared)']);
  });

  it('reports an `if` that does not compile, with the column', () => {
    const text = scenario('  - { id: a, uses: noop }\n  - { id: b, uses: noop }\n  - { id: c, uses: noop, needs: [a], if: "steps.a.output.x +" }\n');
    expect(errorsOf(text)).toEqual(['steps[2].if: unexpected token: EOF at column 19']);
  });

  it('reports a template that does not compile, or is malformed', () => {
    const text = scenario('  - { id: a, uses: http, with: { url: "{{ input.baseUrl + }}/x", body: "{{ input.x", h: "{{ }}" } }\n');
    expect(errorsOf(text)).toEqual([
      'steps[0].with.url: template "{{ input.baseUrl + }}": unexpected token: EOF at column 16',
      'steps[0].with.body: unclosed template "{{ input.x": missing "}}"',
      'steps[0].with.h: empty template "{{ }}"',
    ]);
  });

  it('reports an `if` whose type is known not to be bool', () => {
    expect(errorsOf(scenario('  - { id: a, uses: noop, if: "1 + 2" }\n'))).toEqual(['steps[0].if: must be a bool expression, got int']);
  });

  it('reports unknown steps in expressions and templates', () => {
    const text = scenario(
      '  - { id: a, uses: noop }\n  - { id: b, uses: noop }\n  - { id: c, uses: noop }\n  - { id: d, uses: noop }\n  - { id: e, uses: http, needs: [a], if: "steps.x.status == \'ok\'", with: { url: "{{ steps.y.output.url }}" } }\n',
    );
    expect(errorsOf(text)).toEqual(['steps[4].if: unknown step "x"', 'steps[4].with.url: unknown step "y" in template']);
  });

  it('reports a step read without being upstream (its output may not exist yet)', () => {
    const text = scenario('  - { id: a, uses: noop }\n  - { id: b, uses: noop, if: "steps.a.status == \'succeeded\'" }\n');
    expect(errorsOf(text)).toEqual(['steps[1].if: step "a" is not upstream of "b": add it to needs (directly or through another step)']);
  });

  it('explains how to read a hyphenated step id', () => {
    const text = scenario('  - { id: premium-path, uses: noop }\n  - { id: b, uses: noop, needs: [premium-path], if: "steps.premium-path.status == \'ok\'" }\n');
    expect(errorsOf(text)).toEqual([
      `steps[1].if: unknown variable: path at column 15 (ids with "-" must be written steps['premium-path'])`,
    ]);
  });

  it('checks the CEL of assert steps', () => {
    const text = scenario('  - { id: a, uses: noop }\n  - { id: b, uses: assert, needs: [a], with: { that: "steps.a.output.x >" } }\n');
    expect(errorsOf(text)).toEqual(['steps[1].with.that: unexpected token: EOF at column 19']);
  });

  it('allows secrets only in templates, and only declared ones', () => {
    const text = scenario(
      '  - { id: a, uses: http, credentials: [TOKEN], with: { h: "Bearer {{ secrets.TOKEN }} {{ secrets.OPENAI_API_KEY }} {{ secrets.OTHER }}" } }\n  - { id: b, uses: noop, credentials: [TOKEN], if: "secrets.TOKEN == \'x\'" }\n',
      'credentials: [OPENAI_API_KEY]\n',
    );
    expect(errorsOf(text)).toEqual([
      `steps[0].with.h: secret "OTHER" is not declared in the step's or the scenario's credentials`,
      'steps[1].if: secrets are only available in with templates, never in conditions or assertions',
    ]);
  });

  it('checks retry policies the Temporal way', () => {
    expect(errorsOf(scenario('  - { id: a, uses: noop, retry: { attempts: 0, retryOn: [assertion] } }\n'))).toEqual([
      'steps[0].retry.attempts: must be ≥ 1, got 0',
      'steps[0].retry.retryOn[0]: retryOn may only add "error" or transient kinds (timeout, network, rate_limited, server_error, transient, stalled), got "assertion"',
    ]);
    expect(errorsOf(scenario('  - { id: a, uses: noop, retry: { backoff: { delayMs: 120000 } } }\n'))).toEqual([
      'steps[0]: retry.backoff.maxDelayMs must be ≥ retry.backoff.delayMs (60000 < 120000)',
    ]);
    expect(errorsOf(scenario('  - { id: a, uses: noop }\n  - { id: b, uses: noop }\n', 'defaults: { retry: { backoff: { maxDelayMs: 10 } } }\n'))).toEqual([
      'defaults: retry.backoff.maxDelayMs must be ≥ retry.backoff.delayMs (10 < 1000)',
    ]);
  });

  it('checks numbers and enums with readable messages', () => {
    const text = scenario('  - { id: a, uses: noop, timeoutMs: 1.5, isolation: thread, cost: { tokens: -1 } }\n', 'maxParallel: "4"\n');
    expect(errorsOf(text)).toEqual([
      'maxParallel: expected number, got "4"',
      'steps[0].timeoutMs: expected an integer, got 1.5',
      'steps[0].cost.tokens: must be ≥ 0, got -1',
      'steps[0].isolation: must be one of "inline", "process", got "thread"',
    ]);
  });

  it('limits a scenario to 1000 steps', () => {
    const steps = Array.from({ length: 1001 }, (_, i) => ({ id: `s${i}`, uses: 'noop' }));
    expect(() => validateScenario({ name: 's', steps })).toThrow('steps: at most 1000 steps are allowed, got 1001');
    expect(validateScenario({ name: 's', steps: steps.slice(0, 1000) }).steps).toHaveLength(1000);
  });
});

describe('ScenarioValidationError', () => {
  const text = scenario('  - { id: login, uses: htp, colour: red }\n  - { id: b, uses: noop, needs: [lgoin] }\n', 'timeoutMs: -1\n');

  it('reports all errors at once, in file order', () => {
    expect(errorsOf(text)).toEqual([
      'timeoutMs: must be > 0, got -1',
      'steps[0].colour: unknown field',
      'steps[0].uses: unknown handler "htp" (did you mean "http"?)',
      'steps[1].needs[0]: unknown step "lgoin" (did you mean "login"?)',
    ]);
  });

  it('formats one line per issue with the file name and never a stack trace', () => {
    try {
      parseScenario(text, { knownHandlers: HANDLERS, fileName: 'examples/x.yaml' });
      expect.unreachable();
    } catch (e) {
      const error = e as ScenarioValidationError;
      expect(error.kind).toBe('invalid_input');
      const lines = error.format().split('\n');
      expect(lines).toHaveLength(4);
      expect(lines[3]).toBe('examples/x.yaml: steps[1].needs[0]: unknown step "lgoin" (did you mean "login"?)');
      expect(error.format('other.yaml')).not.toMatch(/\n\s+at /);
      expect(error.format('other.yaml').split('\n').every((line) => line.startsWith('other.yaml: '))).toBe(true);
    }
  });
});
