/**
 * The worker's metrics port doubles as its probe port (deploy/k8s): /healthz while the process
 * answers, /readyz while Redis answers and the worker is not draining.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type ScenarioClient } from '../../src/client.ts';
import { parseScenario } from '../../src/scenario/load.ts';
import { useTestRedis } from '../support/context.ts';
import { startWorker, stopAllWorkers, type WorkerProcess } from '../support/workers.ts';

const t = useTestRedis('worker-probes', { scope: 'file' });
let worker: WorkerProcess;
let port: number;
let client: ScenarioClient;

beforeAll(async () => {
  worker = await startWorker({ redisUrl: t.url, prefix: t.prefix, concurrency: 2, args: ['--metrics-port', '0'], env: { SQ_SHUTDOWN_GRACE_MS: '10000' } });
  const line = await worker.waitForLine((l) => l.includes('"metrics server listening"'));
  port = (JSON.parse(line) as { port: number }).port;
  client = await createClient({ redisUrl: t.url, prefix: t.prefix });
});
afterAll(async () => {
  await client?.close();
  await stopAllWorkers();
});

const probe = async (path: string) => {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, body: (await res.json()) as unknown };
};

describe('worker probes on the metrics port', () => {
  it('answers /healthz and /readyz with 200 while serving', async () => {
    expect(await probe('/healthz')).toEqual({ status: 200, body: { ok: true } });
    expect(await probe('/readyz')).toEqual({ status: 200, body: { ok: true } });
    expect((await fetch(`http://127.0.0.1:${port}/metrics`)).status).toBe(200);
  });

  it('turns /readyz to 503 as soon as SIGTERM starts the drain, while the attempt in flight finishes', async () => {
    const def = parseScenario('name: drain\nsteps:\n  - { id: slow, uses: sleep, with: { ms: 2500 } }\n', { knownHandlers: ['sleep'] });
    const { runId } = await client.enqueue(def);
    while ((await client.status(runId))?.steps[0]?.status !== 'running') await new Promise((r) => setTimeout(r, 50));
    worker.kill('SIGTERM');
    await worker.waitForLine((l) => l.includes('"draining"'));
    expect(await probe('/readyz')).toEqual({ status: 503, body: { ok: false } });
    expect((await probe('/healthz')).status).toBe(200);
    expect((await worker.exited).code).toBe(0);
    expect((await client.status(runId))?.status).toBe('succeeded');
  });
});
