import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { captureAttemptLog, MAX_LOG_LINE_BYTES, MAX_LOG_LINES_PER_ATTEMPT, type LogEntry } from '../../src/worker/attempt-log.ts';
import { MAX_INLINE_ARTIFACT_BYTES, MAX_INLINE_ARTIFACT_BYTES_PER_RUN, storeArtifact } from '../../src/worker/artifacts.ts';
import { useTestRedis } from '../support/context.ts';

const t = useTestRedis('recovery-side-data');

describe('per-attempt logs (SPEC §12)', () => {
  it('keeps the first lines of an attempt in order, redacted, truncated, capped, and expiring with the run', async () => {
    const key = `${t.prefix}:logs`;
    const printed: string[] = [];
    const parent = pino({ level: 'warn', base: {} }, { write: (l: string) => void printed.push(l) }).child({ runId: 'r1', stepId: 's', attempt: 2 });
    const log = captureAttemptLog(parent, { redis: t.redis, key, stepId: 's', attempt: 2, keepUntil: Date.now() + 60_000, redact: (x) => x.replaceAll('hunter2', '[redacted:PW]') });
    log.info({ pw: 'hunter2' }, 'first');
    log.warn({ big: 'x'.repeat(MAX_LOG_LINE_BYTES) }, 'second');
    for (let i = 0; i < MAX_LOG_LINES_PER_ATTEMPT + 10; i++) log.info({ i }, 'more');
    await t.redis.ping();

    const entries = (await t.redis.lrange(key, 0, -1)).map((raw) => JSON.parse(raw) as LogEntry);
    expect(entries).toHaveLength(MAX_LOG_LINES_PER_ATTEMPT + 1);
    expect(entries.every((e) => e.step === 's' && e.attempt === 2)).toBe(true);
    expect(JSON.parse(entries[0].line)).toMatchObject({ msg: 'first', pw: '[redacted:PW]', runId: 'r1', stepId: 's', attempt: 2 });
    expect(entries[1].line.endsWith('…[truncated]')).toBe(true);
    expect(entries.at(-1)?.line).toMatch(/further lines of this attempt were dropped/);
    expect(await t.redis.pttl(key)).toBeGreaterThan(50_000);
    // The process log still gets what its own level lets through, unredacted by this layer.
    expect(printed).toHaveLength(1);
    expect(JSON.parse(printed[0])).toMatchObject({ msg: 'second' });
  });
});

describe('artifacts (SPEC §12)', () => {
  it('caps inline bytes per run, then writes to SQ_ARTIFACT_DIR, or refuses naming it', async () => {
    const key = `${t.prefix}:art`;
    const target = { redis: t.redis, key, runId: 'r1', stepId: 'shots', attempt: 1, keepUntil: Date.now() + 60_000 };
    const chunk = 'a'.repeat(MAX_INLINE_ARTIFACT_BYTES);
    for (let i = 0; i < MAX_INLINE_ARTIFACT_BYTES_PER_RUN / MAX_INLINE_ARTIFACT_BYTES; i++) {
      expect((await storeArtifact(target, `shot-${i}.png`, chunk, 'image/png')).storage).toBe('redis');
    }
    await expect(storeArtifact(target, 'one-more.png', 'b', 'image/png')).rejects.toThrow(/beyond 4194304 bytes per run in Redis are written to SQ_ARTIFACT_DIR, which is not set/);

    const dir = await mkdtemp(join(tmpdir(), 'sq-art-'));
    try {
      const record = await storeArtifact({ ...target, dir }, 'one more.png', 'b', 'image/png');
      expect(record).toMatchObject({ storage: 'file', size: 1, stepId: 'shots', attempt: 1 });
      expect(record.path).toBe(join(dir, 'r1', 'shots', '1-one_more.png'));
      expect(await readFile(record.path!, 'utf8')).toBe('b');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    await expect(storeArtifact(target, '', 'x', 'text/plain')).rejects.toThrow(/artifact name must be 1-200 characters/);
  });
});
