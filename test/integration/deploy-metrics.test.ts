/**
 * deploy/: the Grafana dashboard and the alert rules only name metrics that a real worker and
 * a real api export after running scenarios; the KEDA trigger counts the list BullMQ really
 * fills (`<prefix>:steps:wait`).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { createClient, type ScenarioClient } from '../../src/client.ts';
import { loadScenario, parseScenario } from '../../src/scenario/load.ts';
import { BUILTIN_HANDLERS } from '../../src/handlers/builtin/index.ts';
import { STEP_QUEUE } from '../../src/redis/keys.ts';
import { useTestRedis } from '../support/context.ts';
import { startWorker, stopAllWorkers, type WorkerProcess } from '../support/workers.ts';
import { startApi, type ApiProcess } from '../support/api.ts';
import { readExposition, unknownReferences, type Exposition } from '../support/promql.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const t = useTestRedis('deploy-metrics', { scope: 'file' });
const known = BUILTIN_HANDLERS.map((h) => h.name);
let client: ScenarioClient;
let workerText: string;
let apiText: string;
let api: ApiProcess | undefined;

/** The port a process logs (field `port`) with the message `msg` once it listens. */
async function portOf(proc: WorkerProcess, msg: string): Promise<number> {
  const line = await proc.waitForLine((l) => l.includes(`"msg":"${msg}"`));
  return (JSON.parse(line) as { port: number }).port;
}

beforeAll(async () => {
  const worker = await startWorker({ redisUrl: t.url, prefix: t.prefix, concurrency: 4, args: ['--metrics-port', '0'] });
  const workerPort = await portOf(worker, 'metrics server listening');
  client = await createClient({ redisUrl: t.url, prefix: t.prefix });
  const smoke = await loadScenario(join(ROOT, 'examples/stack-smoke.yaml'), { knownHandlers: known });
  const failing = parseScenario(
    `
name: deploy-failing
steps:
  - id: flaky
    uses: fault
    retry: { attempts: 2, backoff: { type: fixed, delayMs: 50, jitter: none } }
    with: { failTimes: 5, kind: server_error }
  - { id: after, uses: noop, needs: [flaky] }
`,
    { knownHandlers: known },
  );
  for (const def of [smoke, failing]) {
    const { runId } = await client.enqueue(def);
    await client.wait(runId);
  }
  // The api is the other process serving /metrics (behind its token, SPEC §16).
  const token = 'deploy-metrics-test-token';
  api = await startApi({ redisUrl: t.url, prefix: t.prefix, token });
  const scrape = async (url: string, headers: Record<string, string> = {}) => {
    const res = await fetch(url, { headers });
    expect(res.status).toBe(200);
    return res.text();
  };
  // Events reach the metrics consumer group asynchronously: wait until the runs are counted.
  for (let i = 0; i < 100; i++) {
    workerText = await scrape(`http://127.0.0.1:${workerPort}/metrics`);
    if (/sq_runs_total\{scenario="deploy-failing",status="failed"\} 1/.test(workerText)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  apiText = await scrape(`${api.url}/metrics`, { authorization: `Bearer ${token}` });
});
afterAll(async () => {
  await client?.close();
  await api?.stop();
  await stopAllWorkers();
});

const dashboard = JSON.parse(readFileSync(join(ROOT, 'deploy/grafana/dashboards/scenario-queue.json'), 'utf8')) as {
  panels: { type: string; title: string; targets?: { expr: string }[] }[];
  templating: { list: { name: string; query?: string | { query: string } }[] };
};
const alertRules = (parse(readFileSync(join(ROOT, 'deploy/prometheus/alerts.yml'), 'utf8')) as { groups: { rules: { record?: string; alert?: string; expr: string }[] }[] }).groups.flatMap((g) => g.rules);

function queries(): { where: string; expr: string }[] {
  const out: { where: string; expr: string }[] = [];
  for (const panel of dashboard.panels) for (const target of panel.targets ?? []) out.push({ where: `panel "${panel.title}"`, expr: target.expr });
  for (const variable of dashboard.templating.list) {
    const q = typeof variable.query === 'string' ? undefined : variable.query?.query;
    if (q) out.push({ where: `variable $${variable.name}`, expr: q });
  }
  return out;
}

describe('deploy/ against live metrics', () => {
  let exposition: Exposition;
  beforeAll(() => {
    exposition = readExposition(`${workerText}\n${apiText}`);
  });

  it('scraped a worker that ran scenarios, and the api', () => {
    expect(workerText).toMatch(/sq_runs_total\{scenario="stack-smoke",status="succeeded"\} 1/);
    expect(workerText).toMatch(/sq_step_retries_total\{[^}]*kind="server_error"[^}]*\} [1-9]/);
    expect(apiText).toMatch(/^sq_queue_jobs\{queue="steps",state="wait"\} \d+$/m);
  });

  it('has a dashboard whose every query names only exported metrics and labels', () => {
    const list = queries();
    expect(list.length).toBeGreaterThan(25);
    const problems = list.flatMap((q) => unknownReferences(q.expr, exposition).map((p) => `${q.where}: ${p} in ${q.expr}`));
    expect(problems).toEqual([]);
  });

  it('has alert rules that name only exported metrics, their own recording rules and Prometheus `up`', () => {
    const recorded = new Set(alertRules.flatMap((r) => (r.record ? [r.record] : [])));
    const problems = alertRules.flatMap((r) => unknownReferences(r.expr, exposition, new Set([...recorded, 'up'])).map((p) => `${r.alert ?? r.record}: ${p}`));
    expect(problems).toEqual([]);
  });

  it('scales on the list BullMQ 6 really fills: <prefix>:steps:wait counts queued steps', async () => {
    const prefix = `${t.prefix}-keda`;
    const idle = await createClient({ redisUrl: t.url, prefix });
    try {
      const def = parseScenario('name: keda-depth\nsteps:\n  - { id: a, uses: noop }\n  - { id: b, uses: noop }\n  - { id: c, uses: noop }\n', { knownHandlers: known });
      await idle.enqueue(def);
      const listName = `${prefix}:${STEP_QUEUE}:wait`;
      expect(await t.redis.type(listName)).toBe('list');
      expect(await t.redis.llen(listName)).toBe(3);
    } finally {
      await idle.close();
    }
  });
});
