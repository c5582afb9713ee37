/**
 * docs/: links resolve, every example file a page names exists and validates, and the
 * GitHub Actions example enqueues, waits and uploads its JUnit report.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadScenario } from '../../src/scenario/load.ts';
import { BUILTIN_HANDLERS } from '../../src/handlers/builtin/index.ts';
import { loadHandlerModule } from '../../src/handlers/load.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const DOCS = join(ROOT, 'docs');
const pages = readdirSync(DOCS).filter((f) => f.endsWith('.md'));
const text = (page: string) => readFileSync(join(DOCS, page), 'utf8');

/** The concept pages the index promises, one per concept (SPEC §20 issue: "one page per concept"). */
const CONCEPTS = ['scenarios', 'handlers', 'retries-and-errors', 'guardrails', 'recovery', 'metrics', 'deployment', 'ci', 'vitest'];

describe('docs/', () => {
  it('has an index that links every concept page', () => {
    const index = text('index.md');
    for (const concept of CONCEPTS) expect(index).toContain(`](${concept}.md)`);
  });

  it('has relative links that resolve', () => {
    const broken: string[] = [];
    for (const page of pages) {
      for (const [, target] of text(page).matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
        if (/^[a-z]+:/.test(target)) continue;
        if (!existsSync(resolve(DOCS, target))) broken.push(`${page} → ${target}`);
      }
    }
    expect(broken).toEqual([]);
  });

  it('names only example files that exist and validate', async () => {
    const custom = await loadHandlerModule(join(ROOT, 'examples/custom-handler/handlers.ts'));
    const known = [...BUILTIN_HANDLERS, ...custom].map((h) => h.name);
    const named = new Set(pages.flatMap((page) => [...text(page).matchAll(/\b(examples\/[\w/.-]+\.(?:ya?ml|ts))\b/g)].map((m) => m[1])));
    expect(named.size).toBeGreaterThan(5);
    for (const file of named) {
      expect(existsSync(join(ROOT, file)), file).toBe(true);
      if (file.endsWith('.yaml')) await expect(loadScenario(join(ROOT, file), { knownHandlers: known })).resolves.toMatchObject({ name: expect.any(String) });
    }
  });
});

describe('docs/ci/github-actions.yml', () => {
  const workflow = parse(readFileSync(join(DOCS, 'ci/github-actions.yml'), 'utf8')) as {
    on: Record<string, unknown>;
    jobs: Record<string, { services?: Record<string, { image: string }>; steps: { name?: string; uses?: string; run?: string; if?: string; with?: Record<string, string> }[] }>;
  };
  const job = Object.values(workflow.jobs)[0];

  it('runs on pull requests and on a schedule', () => {
    expect(Object.keys(workflow.on)).toEqual(expect.arrayContaining(['pull_request', 'schedule']));
    expect(job.services?.redis.image).toMatch(/^redis:7/);
  });

  it('enqueues and waits in one step, writing JUnit, and uploads it even when runs fail', () => {
    const run = job.steps.find((s) => s.run?.includes('scenario-queue run'));
    expect(run?.run).toContain('--wait');
    const junit = /--junit (\S+)/.exec(run?.run ?? '')?.[1];
    expect(junit).toBeDefined();
    const upload = job.steps.find((s) => s.uses?.startsWith('actions/upload-artifact@'));
    expect(upload?.if).toBe('always()');
    expect(junit?.startsWith(upload?.with?.path ?? '\0')).toBe(true);
    const publish = job.steps.find((s) => s.with?.report_paths);
    expect(publish?.with?.report_paths).toBe(junit);
    expect(dirname(junit ?? '')).toBe('reports');
  });
});
