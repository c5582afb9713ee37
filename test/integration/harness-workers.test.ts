import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/engine.ts';
import { isProcessAlive } from '../support/process-registry.ts';
import { startWorker, startWorkers, stopAllWorkers } from '../support/workers.ts';

// The real `scenario-queue worker` is not written yet; a fake exercises the harness side.
const entry = fileURLToPath(new URL('../support/fixtures/fake-worker.mjs', import.meta.url));
const base = { redisUrl: 'redis://127.0.0.1:1', prefix: 'sqt-workers-abcdef', entry };

afterAll(() => stopAllWorkers());

describe('startWorker', () => {
  it('waits for "worker ready", passes env and args, and keeps every line', async () => {
    const worker = await startWorker({ ...base, concurrency: 4, handlers: './h.ts', env: { FAKE_EXTRA: 'x' } });
    expect(worker.workerId).toBe(`fake-${worker.pid}`);
    const starting = JSON.parse(worker.lines()[0]) as Record<string, unknown>;
    expect(starting).toMatchObject({
      argv: ['worker', '--concurrency', '4', '--handlers', './h.ts'],
      redisUrl: base.redisUrl, prefix: base.prefix, logLevel: 'info', extra: 'x',
    });
    expect(worker.lines()).toContain('a plain stderr line');
    expect(await worker.stop()).toBe(0);
    expect(worker.lines().at(-1)).toContain('worker stopping');
  });

  it('reports a worker that exits before ready with its output', async () => {
    await expect(startWorker({ ...base, env: { FAKE_WORKER_MODE: 'crash' } }))
      .rejects.toThrow(/exited \(code 3[\s\S]*boom: cannot start/);
  });

  it('times out a worker that never gets ready and kills it', async () => {
    await expect(startWorker({ ...base, readyTimeoutMs: 500, env: { FAKE_WORKER_MODE: 'silent' } }))
      .rejects.toThrow(/did not log "worker ready" within 500ms[\s\S]*worker starting/);
  });

  it('escalates to SIGKILL when SIGTERM is ignored', async () => {
    const worker = await startWorker({ ...base, env: { FAKE_WORKER_MODE: 'stubborn' } });
    expect(await worker.stop(300)).toBeNull();
    expect(await worker.exited).toEqual({ code: null, signal: 'SIGKILL' });
  });

  it('kill() takes the worker and its children down', async () => {
    const worker = await startWorker({ ...base, env: { FAKE_WORKER_MODE: 'grandchild' } });
    const line = await worker.waitForLine((l) => l.includes('grandchild started'));
    const { grandchildPid } = JSON.parse(line) as { grandchildPid: number };
    worker.kill();
    expect((await worker.exited).signal).toBe('SIGKILL');
    // The group's SIGKILL reaches each process when the kernel next schedules it: the worker's
    // exit can be seen a moment before the grandchild is gone (a clean-clone CI run saw it).
    await eventually(() => !isProcessAlive(grandchildPid), 5_000, 'the grandchild gone after kill()');
  });
});

describe('startWorkers', () => {
  it('starts n workers with distinct ids and stopAllWorkers stops them', async () => {
    const workers = await startWorkers(2, base);
    expect(new Set(workers.map((w) => w.workerId)).size).toBe(2);
    await stopAllWorkers();
    for (const worker of workers) expect(await worker.exited).toEqual({ code: 0, signal: null });
  });
});
