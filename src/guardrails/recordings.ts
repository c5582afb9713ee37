/**
 * Recordings (SPEC §10): `--record` keeps what live `http`/`llm` steps returned, per
 * scenario, step and request hash; a mocked run replays a recording whose request matches
 * (it wins over the step's `mock.output`). Stored already redacted, so a recording never
 * holds a secret value.
 */
import { createHash } from 'node:crypto';
import * as z from 'zod';
import type { RedisConnection } from '../redis/connection.ts';
import type { Keys } from '../redis/keys.ts';
import { redactSecrets } from './redact.ts';

/** Handlers whose responses are recorded: the ones that reach the outside world. */
export const RECORDED_HANDLERS: ReadonlySet<string> = new Set(['http', 'llm']);

function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** Identifies a request: handler and rendered input, secrets redacted, key order ignored. */
export function requestHash(handler: string, input: unknown): string {
  return createHash('sha256').update(redactSecrets(stableJson({ handler, input }))).digest('hex').slice(0, 32);
}

const Recording = z.strictObject({
  scenario: z.string().min(1),
  step: z.string().min(1),
  hash: z.string().regex(/^[0-9a-f]{8,64}$/),
  handler: z.string().min(1),
  recordedAt: z.number(),
  output: z.unknown(),
});
export type Recording = z.output<typeof Recording>;

export const RecordingsFile = z.strictObject({ version: z.literal(1), recordings: z.array(Recording) });
export type RecordingsFile = z.output<typeof RecordingsFile>;

const field = (step: string, hash: string) => `${step}|${hash}`;

/** Stores one live response; `outputJson` is the step's output as stored (already redacted). */
export async function saveRecording(redis: RedisConnection, keys: Keys, r: Omit<Recording, 'output'> & { outputJson: string }): Promise<void> {
  const value = JSON.stringify({ handler: r.handler, recordedAt: r.recordedAt, output: JSON.parse(r.outputJson) as unknown });
  await redis.multi().hset(keys.guard.recordings(r.scenario), field(r.step, r.hash), value).sadd(keys.guard.recordingsIndex, r.scenario).exec();
}

/** The recorded output for this request, if a live run recorded one. */
export async function findRecording(redis: RedisConnection, keys: Keys, scenario: string, step: string, hash: string): Promise<{ output: unknown } | undefined> {
  const raw = await redis.hget(keys.guard.recordings(scenario), field(step, hash));
  return raw ? { output: (JSON.parse(raw) as { output: unknown }).output } : undefined;
}

/** Every recording (of one scenario when given), as the export file. */
export async function exportRecordings(redis: RedisConnection, keys: Keys, scenario?: string): Promise<RecordingsFile> {
  const scenarios = scenario ? [scenario] : (await redis.smembers(keys.guard.recordingsIndex)).sort();
  const recordings: Recording[] = [];
  for (const name of scenarios) {
    const all = await redis.hgetall(keys.guard.recordings(name));
    for (const [key, raw] of Object.entries(all).sort(([a], [b]) => (a < b ? -1 : 1))) {
      const bar = key.lastIndexOf('|');
      const value = JSON.parse(raw) as { handler: string; recordedAt: number; output: unknown };
      recordings.push({ scenario: name, step: key.slice(0, bar), hash: key.slice(bar + 1), handler: value.handler, recordedAt: value.recordedAt, output: value.output });
    }
  }
  return { version: 1, recordings };
}

/** Validates an export file and stores its recordings; returns how many. */
export async function importRecordings(redis: RedisConnection, keys: Keys, doc: unknown): Promise<number> {
  const file = RecordingsFile.parse(doc);
  for (const r of file.recordings) {
    await saveRecording(redis, keys, { ...r, outputJson: redactSecrets(JSON.stringify(r.output ?? null)) });
  }
  return file.recordings.length;
}
