import { beforeAll, describe, expect, it } from 'vitest';
import { hasStackTrace, runCli, tempFiles, type CliResult } from '../support/cli.ts';

/** One file per rule of SPEC §2, and the line `validate` must print for it (after "<file>: "). */
const RULES: Record<string, { file: string; expect: RegExp }> = {
  'unknown top-level field': {
    file: `name: x\nnmae: typo\nsteps:\n  - { id: a, uses: noop }\n`,
    expect: /^nmae: unknown field/,
  },
  'unknown step field': {
    file: `name: x\nsteps:\n  - id: a\n    uses: echo\n    wiht: { v: 1 }\n`,
    expect: /^steps\[0\]\.wiht: unknown field/,
  },
  'unknown handler': {
    file: `name: x\nsteps:\n  - { id: a, uses: htp }\n`,
    expect: /^steps\[0\]\.uses: unknown handler "htp"/,
  },
  'unknown needs': {
    file: `name: x\nsteps:\n  - { id: login, uses: noop }\n  - { id: b, uses: noop, needs: [login, lgoin] }\n`,
    expect: /^steps\[1\]\.needs\[1\]: unknown step "lgoin"/,
  },
  'cycle (named)': {
    file: `name: x\nsteps:\n  - { id: a, uses: noop, needs: [c] }\n  - { id: b, uses: noop, needs: [a] }\n  - { id: c, uses: noop, needs: [b] }\n`,
    // Either direction, from any member; it starts and ends on the same step.
    expect: /^steps\[\d\]\.needs: cycle: ([abc]) -> (?!\1)[abc] -> (?!\1)[abc] -> \1$/,
  },
  'duplicate ids': {
    file: `name: x\nsteps:\n  - { id: a, uses: noop }\n  - { id: a, uses: echo }\n`,
    expect: /^steps\[1\]\.id: duplicate step id "a"/,
  },
  'bad expression in if': {
    file: `name: x\nsteps:\n  - { id: a, uses: noop, if: "input.x ==" }\n`,
    expect: /^steps\[0\]\.if: .+/,
  },
  'bad expression in a template': {
    file: `name: x\nsteps:\n  - { id: a, uses: echo, with: { url: "{{ input.base + }}/x" } }\n`,
    expect: /^steps\[0\]\.with\.url: .+/,
  },
  'bad expression in assert': {
    file: `name: x\nsteps:\n  - { id: a, uses: assert, with: { that: "1 = 1" } }\n`,
    expect: /^steps\[0\]\.with\.that: .+/,
  },
  'unknown group': {
    file: `name: x\ngroups:\n  checkout: { timeoutMs: 1000 }\nsteps:\n  - { id: a, uses: noop, group: chekout }\n`,
    expect: /^steps\[0\]\.group: unknown group "chekout"/,
  },
  'bad value type': {
    file: `name: x\nsteps:\n  - { id: a, uses: noop, timeoutMs: soon }\n`,
    expect: /^steps\[0\]\.timeoutMs: .+/,
  },
  'more than 1000 steps': {
    file: `name: x\nsteps:\n${Array.from({ length: 1001 }, (_, i) => `  - { id: s${i}, uses: noop }`).join('\n')}\n`,
    expect: /^steps: at most 1000 steps/,
  },
  'file over 1 MiB': {
    file: `name: x\ndescription: "${'x'.repeat(1024 * 1024)}"\nsteps:\n  - { id: a, uses: noop }\n`,
    expect: /1 MiB/,
  },
  'YAML syntax error': {
    file: `name: x\nsteps:\n  - { id: a, uses: noop\n`,
    expect: /YAML syntax error at line \d+/,
  },
};

const names = Object.keys(RULES);
const fileOf = (rule: string) => `${names.indexOf(rule)}.yaml`;
let dir: ReturnType<typeof tempFiles>;
let batch: CliResult;

beforeAll(async () => {
  dir = tempFiles({
    ...Object.fromEntries(names.map((rule) => [fileOf(rule), RULES[rule].file])),
    'good.yaml': `name: good\nsteps:\n  - { id: a, uses: echo, with: { v: "{{ input.v }}" } }\n  - { id: b, uses: noop, needs: [a] }\n`,
    'good.json': JSON.stringify({ name: 'good-json', steps: [{ id: 'a', uses: 'noop' }] }),
    'bad.json': JSON.stringify({ name: 'bad-json', steps: [{ id: 'a', uses: 'noop', needs: ['zz'] }] }),
    'many.yaml': `name: Bad_Name
nmae: typo
groups:
  checkout: { timeoutMs: 1000 }
steps:
  - { id: login, uses: htp, wiht: { url: x } }
  - { id: login, uses: echo }
  - { id: plan, uses: echo, needs: [lgoin] }
  - { id: a, uses: noop, needs: [b] }
  - { id: b, uses: noop, needs: [a] }
  - { id: c, uses: noop, if: "steps.login.output.x ==" }
  - { id: d, uses: noop, group: chekout }
`,
  });
  // One process for all rule files keeps the suite fast; each file's lines are checked on their own.
  batch = await runCli(['validate', ...names.map((rule) => dir.path(fileOf(rule)))]);
});

describe('scenario-queue validate (SPEC §2, §15)', () => {
  it('exits 2 on invalid files, prints nothing on stdout and never a stack trace', () => {
    expect(batch.code, batch.stderr).toBe(2);
    expect(batch.stdout).toBe('');
    expect(hasStackTrace(batch.stderr)).toBe(false);
  });

  it.each(names)('%s: reported with its path', (rule) => {
    const file = dir.path(fileOf(rule));
    const lines = batch.stderr.split('\n').filter((line) => line.startsWith(`${file}: `));
    expect(lines.length, batch.stderr).toBeGreaterThan(0);
    expect(lines.some((line) => RULES[rule].expect.test(line.slice(file.length + 2))), lines.join('\n')).toBe(true);
  });

  it('reports every error of a file at once, in file order', async () => {
    const file = dir.path('many.yaml');
    const result = await runCli(['validate', file]);
    expect(result.code).toBe(2);
    expect(hasStackTrace(result.stderr)).toBe(false);
    const paths = result.stderr.trim().split('\n').map((line) => line.slice(file.length + 2).split(': ')[0]);
    expect(paths).toEqual(['name', 'nmae', 'steps[0].wiht', 'steps[0].uses', 'steps[1].id', 'steps[2].needs[0]', 'steps[3].needs', 'steps[5].if', 'steps[6].group']);
  });

  it('accepts valid YAML and JSON files (exit 0) and reports every file of a mixed batch', async () => {
    const ok = await runCli(['validate', dir.path('good.yaml'), dir.path('good.json')]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain('good (2 steps)');
    expect(ok.stdout).toContain('good-json (1 steps)');

    const mixed = await runCli(['validate', dir.path('good.yaml'), dir.path('bad.json')]);
    expect(mixed.code).toBe(2);
    expect(mixed.stdout).toContain(dir.path('good.yaml'));
    expect(mixed.stderr).toContain(`${dir.path('bad.json')}: steps[0].needs[0]: unknown step "zz"`);
  });

  it('a missing file is exit 2 naming it', async () => {
    const missing = dir.path('nope.yaml');
    const result = await runCli(['validate', missing]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(missing);
    expect(hasStackTrace(result.stderr)).toBe(false);
  });
});
