import { describe, expect, it } from 'vitest';
import { escapeMarkdown, toMarkdown } from '../../src/cli/reports/markdown.ts';
import { escapeAnnotationData, escapeAnnotationProperty, githubAnnotations } from '../../src/cli/reports/annotations.ts';
import { retriesAndContinuedRun, skippedRun, specExampleRun, successRun, timedOutRun } from '../fixtures/reports/summaries.ts';
import type { RunSummary, ScenarioEvent } from '../../src/engine/types.ts';

const rowOf = (md: string, step: string) => md.split('\n').find((l) => l.startsWith(`| ${step} |`))!;
// Splits a GFM table row on unescaped pipes.
const cells = (row: string) => row.split(/(?<!\\)\|/).slice(1, -1).map((c) => c.trim());

describe('toMarkdown', () => {
  it('opens with an emoji-free verdict line: status badge, run id, duration, cost', () => {
    const md = toMarkdown([specExampleRun()]);
    expect(md.startsWith('## checkout-journey\n')).toBe(true);
    expect(md).toContain('**FAILED** · run `checkout-journey-lx2-bbbb` · 1.2s · \\$0.0120, 1200 tokens (900 in / 300 out), 7 calls');
    expect(md).not.toMatch(/\p{Extended_Pictographic}/u);
  });

  it('tabulates steps with status, attempts, duration and the final error', () => {
    const md = toMarkdown([retriesAndContinuedRun()]);
    expect(md).toContain('| Step | Status | Attempts | Duration | Details |');
    expect(cells(rowOf(md, 'pay'))).toEqual(['pay', '**FAILED**', '3', '7.0s', 'client\\_error: HTTP 400: card \\<declined\\> \\& "refused"']);
    expect(cells(rowOf(md, 'receipt'))).toEqual(['receipt', 'skipped', '0', '-', 'upstream\\_failed']);
    expect(cells(rowOf(md, 'teardown'))).toEqual(['teardown', 'failed', '1', '30ms', 'client\\_error: HTTP 404 (continued)']);
  });

  it('lists every retry under the table', () => {
    const md = toMarkdown([retriesAndContinuedRun()]);
    expect(md).toContain('Retries (2):\n\n- pay: attempt 1: server\\_error: HTTP 502 (retried after 1000ms)\n- pay: attempt 2: network: ECONNRESET');
  });

  it('keeps an error message with pipes, newlines and markup inside its cell, cut to a readable length', () => {
    const run = specExampleRun();
    run.steps[1].errors = [{ attempt: 1, kind: 'assertion', message: `a | b\nc <script> **bold** [x](y) $x$ ${'z'.repeat(300)}` }];
    const row = rowOf(toMarkdown([run]), 'verify');
    const cell = cells(row)[4];
    expect(cells(row)).toHaveLength(5);
    expect(cell.startsWith('assertion: a \\| b c \\<script\\> \\*\\*bold\\*\\* \\[x\\](y) \\$x\\$ zzz')).toBe(true);
    expect(cell.endsWith('…')).toBe(true);
    expect(row).not.toContain('\n');
  });

  it('writes one section per run under a suite header for several runs', () => {
    const md = toMarkdown([successRun(), retriesAndContinuedRun(), { ...skippedRun(), suite: 'ci-42' }]);
    expect(md.startsWith('## scenario-queue suite ci-42\n\n**FAILED** · 2 of 3 runs passed')).toBe(true);
    expect(md.match(/^### /gm)).toHaveLength(3);
    expect(md).toContain('### llm-only');
    expect(md).toContain('Reason: credentials\\_missing: OPENAI\\_API\\_KEY');
  });
});

describe('escapeMarkdown', () => {
  it('backslash-escapes markup characters, strips ANSI codes and folds lines', () => {
    expect(escapeMarkdown('a|b\\c`d*e_f\u001b[31mred\u001b[0m\r\ng&h#i')).toBe('a\\|b\\\\c\\`d\\*e\\_fred g\\&h\\#i');
  });
});

describe('githubAnnotations', () => {
  it('emits ::error for failed, timed_out and cancelled steps with all attempts in the message', () => {
    const lines = githubAnnotations(retriesAndContinuedRun());
    expect(lines[0]).toBe(
      '::error title=checkout-journey / pay failed::client_error: HTTP 400: card <declined> & "refused"%0A%0A' +
        'attempt 1: server_error: HTTP 502 (retried after 1000ms)%0Aattempt 2: network: ECONNRESET (retried after 2000ms)%0A' +
        'attempt 3: client_error: HTTP 400: card <declined> & "refused"',
    );
    expect(githubAnnotations(timedOutRun()).map((l) => l.slice(0, l.indexOf('::', 2)))).toEqual([
      '::error title=slow / wait timed_out',
      '::error title=slow / after cancelled',
    ]);
  });

  it('emits ::warning for continued failures and budget warnings of this run', () => {
    const events: ScenarioEvent[] = [
      { type: 'budget.warning', ts: 1, runId: 'checkout-journey-lx3-cccc', stepId: 'pay', data: { scope: 'run', limitUsd: 2.5, message: 'usd would reach 2.6' } },
      { type: 'budget.warning', ts: 1, runId: 'someone-else', data: { scope: 'suite' } },
      { type: 'step.failed', ts: 1, runId: 'checkout-journey-lx3-cccc', stepId: 'pay', data: {} },
    ];
    const warnings = githubAnnotations(retriesAndContinuedRun(), { events }).filter((l) => l.startsWith('::warning'));
    expect(warnings).toEqual([
      '::warning title=checkout-journey / teardown failed (continueOnError)::client_error: HTTP 404',
      '::warning title=checkout-journey budget warning::step pay: usd would reach 2.6 (scope=run, limitUsd=2.5)',
    ]);
  });

  it('returns nothing for a clean run, and an error for the run when no step carries a non-passing verdict', () => {
    expect(githubAnnotations(successRun())).toEqual([]);
    expect(githubAnnotations(skippedRun())).toEqual([]);
    const run: RunSummary = { ...timedOutRun(), steps: [] };
    expect(githubAnnotations(run)).toEqual([
      '::error title=slow timed_out::run slow-lx4-dddd timed_out: run timed out after 5000ms (run timeoutMs); no live workers',
    ]);
  });

  it('escapes %, CR and LF in messages and also : and , in properties', () => {
    const run = specExampleRun();
    run.scenario = 'a:b,c';
    run.steps[1].errors = [{ attempt: 1, kind: 'assertion', message: '100% sure\r\nnot: a, b' }];
    const [line] = githubAnnotations(run, { file: 'dir/x,y:z.yaml' });
    expect(line).toBe('::error file=dir/x%2Cy%3Az.yaml,title=a%3Ab%2Cc / verify failed::assertion: 100%25 sure%0D%0Anot: a, b');
    expect(escapeAnnotationData('%\r\n:,')).toBe('%25%0D%0A:,');
    expect(escapeAnnotationProperty('%\r\n:,')).toBe('%25%0D%0A%3A%2C');
  });

  it('caps each level at maxPerLevel, the last annotation saying how many were cut', () => {
    const run = specExampleRun();
    run.steps = Array.from({ length: 12 }, (_, i) => ({ id: `s${i}`, status: 'failed' as const, attempts: 1, errors: [{ attempt: 1, kind: 'error' as const, message: 'boom' }] }));
    const lines = githubAnnotations(run);
    expect(lines).toHaveLength(10);
    expect(lines[9]).toBe('::error title=checkout-journey%3A 3 more::3 more errors; see the step summary');
  });
});
