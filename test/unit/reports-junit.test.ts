import { describe, expect, it } from 'vitest';
import { toJunitXml } from '../../src/cli/reports/junit.ts';
import { escapeXmlAttr, escapeXmlText } from '../../src/cli/reports/xml.ts';
import { findAll, parseXml, propertiesOf, type XmlNode } from '../fixtures/reports/xml-parse.ts';
import { retriesAndContinuedRun, skippedRun, specExampleRun, successRun, timedOutRun } from '../fixtures/reports/summaries.ts';
import type { RunSummary } from '../../src/engine/types.ts';

const counts = (n: XmlNode) => ({ tests: n.attrs.tests, failures: n.attrs.failures, errors: n.attrs.errors, skipped: n.attrs.skipped });
const testcase = (root: XmlNode, name: string) => findAll(root, 'testcase').find((c) => c.attrs.name === name)!;

describe('toJunitXml', () => {
  it('writes one testsuite per run and one testcase per step, with totals on testsuites', () => {
    const root = parseXml(toJunitXml([successRun(), retriesAndContinuedRun(), timedOutRun()]));
    expect(root.name).toBe('testsuites');
    const suites = findAll(root, 'testsuite');
    expect(suites.map((s) => s.attrs.name)).toEqual(['smoke', 'checkout-journey', 'slow']);
    expect(suites.map(counts)).toEqual([
      { tests: '2', failures: '0', errors: '0', skipped: '0' },
      { tests: '3', failures: '1', errors: '0', skipped: '1' },
      { tests: '2', failures: '2', errors: '0', skipped: '0' },
    ]);
    expect(counts(root)).toEqual({ tests: '7', failures: '3', errors: '0', skipped: '1' });
    expect(root.attrs.time).toBe('15.200');
  });

  it('names testcases by step with the scenario as classname and time in seconds', () => {
    const root = parseXml(toJunitXml([specExampleRun()]));
    const login = testcase(root, 'login');
    expect(login.attrs).toEqual({ classname: 'checkout-journey', name: 'login', time: '0.080' });
    expect(testcase(root, 'verify').attrs.time).toBe('0.000');
  });

  it('carries run id, status and cost as testsuite properties, and attempts and cost per testcase', () => {
    const root = parseXml(toJunitXml([successRun()]));
    const suite = findAll(root, 'testsuite')[0];
    expect(propertiesOf(suite)).toEqual({
      runId: 'smoke-lx1-aaaa',
      status: 'succeeded',
      suite: 'ci-42',
      'cost.usd': '0.002',
      'cost.tokens.input': '100',
      'cost.tokens.output': '50',
      'cost.calls': '2',
    });
    expect(suite.attrs.timestamp).toBe('2024-05-01T12:00:00.100Z');
    expect(propertiesOf(testcase(root, 'ask'))).toMatchObject({ attempts: '1', service: 'openai', 'cost.usd': '0.002', 'cost.calls': '1' });
  });

  it('turns a failed step into <failure> typed by its kind, with every attempt error in the body', () => {
    const root = parseXml(toJunitXml([retriesAndContinuedRun()]));
    const [failure] = findAll(testcase(root, 'pay'), 'failure');
    expect(failure.attrs.type).toBe('client_error');
    expect(failure.attrs.message).toBe('failed: client_error: HTTP 400: card <declined> & "refused"');
    expect(failure.text).toContain('attempt 1: server_error: HTTP 502 (retried after 1000ms)');
    expect(failure.text).toContain('attempt 2: network: ECONNRESET (retried after 2000ms)');
    expect(failure.text).toContain('attempt 3: client_error: HTTP 400: card <declined> & "refused"');
  });

  it('marks timed_out and cancelled steps as failures too', () => {
    const root = parseXml(toJunitXml([timedOutRun()]));
    expect(findAll(testcase(root, 'wait'), 'failure')[0].attrs.type).toBe('timeout');
    const cancelled = findAll(testcase(root, 'after'), 'failure')[0];
    expect(cancelled.attrs).toEqual({ message: 'cancelled: run_timeout', type: 'cancelled' });
  });

  it('writes <skipped message=reason/> for skipped steps', () => {
    const root = parseXml(toJunitXml([retriesAndContinuedRun()]));
    const skipped = findAll(testcase(root, 'receipt'), 'skipped');
    expect(skipped.map((s) => s.attrs)).toEqual([{ message: 'upstream_failed' }]);
  });

  it('passes a continued failure with a <system-out> note, and notes retries of a passing step', () => {
    const root = parseXml(toJunitXml([retriesAndContinuedRun(), specExampleRun()]));
    const teardown = testcase(root, 'teardown');
    expect(findAll(teardown, 'failure')).toEqual([]);
    expect(findAll(teardown, 'system-out')[0].text).toContain('failed but continueOnError');
    expect(findAll(testcase(root, 'login'), 'system-out')[0].text).toContain('succeeded after 2 attempts\nattempt 1: server_error: HTTP 503');
  });

  it('never writes stacks', () => {
    expect(toJunitXml([specExampleRun()])).not.toContain('at fetch');
  });

  it('adds a (run) testcase when the verdict is carried by no step, so CI still goes red', () => {
    const run: RunSummary = { ...timedOutRun(), steps: [] };
    const root = parseXml(toJunitXml([run]));
    const failure = findAll(testcase(root, '(run)'), 'failure')[0];
    expect(failure.attrs.type).toBe('timed_out');
    expect(failure.attrs.message).toContain('no live workers');
    expect(counts(findAll(root, 'testsuite')[0])).toMatchObject({ tests: '1', failures: '1' });
  });

  it('reports a run skipped by a credential gate as skipped, not failed', () => {
    const root = parseXml(toJunitXml([skippedRun()]));
    expect(counts(root)).toEqual({ tests: '1', failures: '0', errors: '0', skipped: '1' });
    expect(toJunitXml([{ ...skippedRun(), steps: [] }])).toContain('<skipped message="credentials_missing: OPENAI_API_KEY"/>');
  });

  it('escapes <&"\' and control characters so the document stays well-formed and readable', () => {
    const nasty = `a<b>&c"d'e\u0000f\u0007g\u001b[31mred\u001b[0m\u000bh\ttab\r\nline`;
    const run = specExampleRun();
    run.scenario = `s<&"'>`;
    run.steps[1].id = `v<&"'>`;
    run.steps[1].errors = [{ attempt: 1, kind: 'assertion', message: nasty }];
    const xml = toJunitXml([run]);
    expect(xml).not.toMatch(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/);
    const root = parseXml(xml);
    expect(findAll(root, 'testsuite')[0].attrs.name).toBe(`s<&"'>`);
    const failure = findAll(testcase(root, `v<&"'>`), 'failure')[0];
    expect(failure.attrs.message).toBe(`failed: assertion: a<b>&c"d'e\\x00f\\x07gred\\x0bh tab line`);
    expect(failure.text).toContain(`a<b>&c"d'e\\x00f\\x07gred\\x0bh\ttab\r\nline`);
  });
});

describe('escapeXmlText / escapeXmlAttr', () => {
  it('escapes markup, keeps CR as a reference, and makes forbidden characters visible', () => {
    expect(escapeXmlText('<a & b>]]>\r')).toBe('&lt;a &amp; b&gt;]]&gt;&#13;');
    expect(escapeXmlAttr(`"x"\n'y'\t`)).toBe('&quot;x&quot;&#10;&apos;y&apos;&#9;');
    expect(escapeXmlText('\u0001\ud800\uffff')).toBe('\\x01\ufffd\ufffd');
    expect(escapeXmlText('😀')).toBe('😀');
  });
});
