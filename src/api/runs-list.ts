import type { RedisConnection } from '../redis/connection.ts';
import type { Keys } from '../redis/keys.ts';
import { costFrom } from '../engine/summary.ts';
import type { CostTotals, RunStatus } from '../engine/types.ts';

/** One row of `GET /runs`: what a list shows, without steps. */
export interface RunListItem {
  runId: string;
  scenario: string;
  status: RunStatus;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  durationMs?: number;
  suite?: string;
  reason?: string;
  cost: CostTotals;
}

export interface ListRunsOptions {
  readonly status?: readonly RunStatus[];
  readonly scenario?: string;
  readonly limit: number;
  /** Only runs created strictly before this time (ms): the `next` cursor of the previous page. */
  readonly before?: number;
}

const FIELDS = ['scenario', 'status', 'createdAt', 'startedAt', 'finishedAt', 'suite', 'reason', 'cost:usd', 'cost:tokens.input', 'cost:tokens.output', 'cost:calls'] as const;
const PAGE = 200;
/** A filtered list never reads more than this many runs per request. */
const MAX_SCANNED = 5_000;

const iso = (ms: string | null) => (ms ? new Date(Number(ms)).toISOString() : undefined);

function toItem(runId: string, values: (string | null)[]): RunListItem | undefined {
  const f = Object.fromEntries(FIELDS.map((name, i) => [name, values[i]])) as Record<(typeof FIELDS)[number], string | null>;
  if (!f.status || !f.createdAt) return undefined;
  const hash: Record<string, string> = {};
  for (const name of FIELDS) if (name.startsWith('cost:') && f[name] !== null) hash[name] = f[name] as string;
  const item: RunListItem = { runId, scenario: f.scenario ?? '', status: f.status as RunStatus, createdAt: iso(f.createdAt) as string, cost: costFrom(hash) };
  if (f.startedAt) item.startedAt = iso(f.startedAt);
  if (f.finishedAt) {
    item.finishedAt = iso(f.finishedAt);
    item.durationMs = Number(f.finishedAt) - Number(f.startedAt ?? f.createdAt);
  }
  if (f.suite) item.suite = f.suite;
  if (f.reason) item.reason = f.reason;
  return item;
}

/** Newest runs first, filtered; `next` is the cursor for the following page. */
export async function listRuns(redis: RedisConnection, keys: Keys, options: ListRunsOptions): Promise<{ runs: RunListItem[]; next?: number }> {
  const runs: RunListItem[] = [];
  let max: string = options.before === undefined ? '+inf' : `(${options.before}`;
  let scanned = 0;
  while (runs.length < options.limit && scanned < MAX_SCANNED) {
    const page = await redis.zrevrangebyscore(keys.runsIndex, max, '-inf', 'WITHSCORES', 'LIMIT', 0, PAGE);
    if (page.length === 0) break;
    const ids: string[] = [];
    for (let i = 0; i < page.length; i += 2) ids.push(page[i]);
    const pipeline = redis.pipeline();
    for (const id of ids) pipeline.hmget(keys.run(id), ...FIELDS);
    const rows = (await pipeline.exec()) ?? [];
    for (let i = 0; i < ids.length && runs.length < options.limit; i++) {
      const item = toItem(ids[i], (rows[i]?.[1] ?? []) as (string | null)[]);
      scanned++;
      if (!item) continue;
      if (options.scenario && item.scenario !== options.scenario) continue;
      if (options.status && !options.status.includes(item.status)) continue;
      runs.push(item);
    }
    max = `(${page[page.length - 1]}`;
    if (page.length < PAGE * 2) break;
  }
  const last = runs.at(-1);
  return runs.length === options.limit && last ? { runs, next: Date.parse(last.createdAt) } : { runs };
}
