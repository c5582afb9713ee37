import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ScenarioError } from '../errors.ts';
import type { RedisConnection } from '../redis/connection.ts';

/** One artifact kept inline in Redis at most; larger ones go to SQ_ARTIFACT_DIR. */
export const MAX_INLINE_ARTIFACT_BYTES = 256 * 1024;
/** All inline artifacts of one run together, so a chatty handler cannot fill Redis. */
export const MAX_INLINE_ARTIFACT_BYTES_PER_RUN = 4 * 1024 * 1024;
const INLINE_TOTAL_FIELD = '_inlineBytes';

/** The index entry of an artifact (hash `runArtifacts`, field `<stepId>|<attempt>|<name>`). */
export interface ArtifactRecord {
  name: string;
  stepId: string;
  attempt: number;
  contentType: string;
  size: number;
  sha256: string;
  ts: number;
  /** Where the bytes are: inline (base64 in this record) or a file under SQ_ARTIFACT_DIR. */
  storage: 'redis' | 'file';
  base64?: string;
  path?: string;
}

export interface ArtifactTarget {
  readonly redis: RedisConnection;
  /** keys.runArtifacts(runId) */
  readonly key: string;
  readonly runId: string;
  readonly stepId: string;
  readonly attempt: number;
  /** SQ_ARTIFACT_DIR; without it, large artifacts are refused. */
  readonly dir?: string;
  /** The index expires with the run's other data (CachedRun.keepUntil); files are the operator's to prune. */
  readonly keepUntil: number;
}

const safe = (part: string) => part.replace(/[^A-Za-z0-9._-]/g, '_');

async function writeToDir(target: ArtifactTarget, name: string, bytes: Buffer): Promise<string> {
  const dir = join(resolve(target.dir as string), safe(target.runId), safe(target.stepId));
  await mkdir(dir, { recursive: true });
  const path = join(dir, `${target.attempt}-${safe(name)}`);
  await writeFile(path, bytes);
  return path;
}

/** Reserves inline room in the run's total; false (nothing reserved) when it would pass the cap. */
async function reserveInline(target: ArtifactTarget, size: number): Promise<boolean> {
  const total = await target.redis.hincrby(target.key, INLINE_TOTAL_FIELD, size);
  if (total <= MAX_INLINE_ARTIFACT_BYTES_PER_RUN) return true;
  await target.redis.hincrby(target.key, INLINE_TOTAL_FIELD, -size);
  return false;
}

/** `ctx.artifact`: small artifacts inline in Redis (capped), large ones under SQ_ARTIFACT_DIR, or a clear refusal. */
export async function storeArtifact(target: ArtifactTarget, name: string, body: string | Uint8Array, contentType: string): Promise<ArtifactRecord> {
  if (name.length === 0 || name.length > 200) throw new ScenarioError('invalid_output', `artifact name must be 1-200 characters, got ${name.length}`);
  const bytes = Buffer.from(body);
  const record: ArtifactRecord = {
    name,
    stepId: target.stepId,
    attempt: target.attempt,
    contentType,
    size: bytes.length,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    ts: Date.now(),
    storage: 'redis',
  };
  const inline = bytes.length <= MAX_INLINE_ARTIFACT_BYTES && (await reserveInline(target, bytes.length));
  if (inline) {
    record.base64 = bytes.toString('base64');
  } else if (target.dir) {
    record.storage = 'file';
    record.path = await writeToDir(target, name, bytes);
  } else {
    const why =
      bytes.length > MAX_INLINE_ARTIFACT_BYTES
        ? `artifacts over ${MAX_INLINE_ARTIFACT_BYTES} bytes`
        : `artifacts beyond ${MAX_INLINE_ARTIFACT_BYTES_PER_RUN} bytes per run in Redis`;
    throw new ScenarioError('invalid_output', `artifact "${name}" (${bytes.length} bytes) refused: ${why} are written to SQ_ARTIFACT_DIR, which is not set on this worker`);
  }
  await target.redis
    .multi()
    .hset(target.key, `${target.stepId}|${target.attempt}|${name}`, JSON.stringify(record))
    .pexpireat(target.key, target.keepUntil)
    .exec();
  return record;
}

/** The artifact index of a run, without the inline bytes (bundles list artifacts, they do not embed them). */
export function artifactIndex(hash: Record<string, string>): Omit<ArtifactRecord, 'base64'>[] {
  return Object.entries(hash)
    .filter(([field]) => field !== INLINE_TOTAL_FIELD)
    .map(([, raw]) => {
      const { base64: _bytes, ...entry } = JSON.parse(raw) as ArtifactRecord;
      return entry;
    });
}
