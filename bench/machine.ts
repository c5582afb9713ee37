/** The machine a benchmark ran on, for the record next to its figures. */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { availableParallelism, loadavg, platform, release, totalmem } from 'node:os';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

async function cpuModel(): Promise<string> {
  const text = await readFile('/proc/cpuinfo', 'utf8').catch(() => '');
  return /^model name\s*:\s*(.+)$/m.exec(text)?.[1]?.trim() ?? 'unknown';
}

export async function machineInfo(redisVersion: string) {
  return {
    nproc: availableParallelism(),
    cpuModel: await cpuModel(),
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    os: `${platform()} ${release()}`,
    node: process.version,
    redis: redisVersion,
    bullmq: (require('bullmq/package.json') as { version: string }).version,
    loadAvgStart: loadavg().map((l) => Math.round(l * 100) / 100),
  };
}

/** The machine's CPU time over all its CPUs, in clock ticks (`/proc/stat`'s `cpu` line). */
export interface CpuTimes {
  readonly total: number;
  /** idle + iowait */
  readonly idle: number;
  /** Taken by the hypervisor for other guests while this one had work. */
  readonly steal: number;
}

/** The machine's CPU times now; undefined where there is no `/proc/stat` (not Linux). */
export function cpuTimes(): CpuTimes | undefined {
  let line: string;
  try {
    line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0];
  } catch {
    return undefined;
  }
  // cpu  user nice system idle iowait irq softirq steal guest guest_nice (guest time is in user).
  const f = line.trim().split(/\s+/).slice(1, 9).map(Number);
  if (f.length < 8 || f.some((x) => !Number.isFinite(x))) return undefined;
  return { total: f.reduce((a, b) => a + b, 0), idle: f[3] + f[4], steal: f[7] };
}

/**
 * What the whole machine did between two readings, as shares of its CPU time: `stolen` by the
 * hypervisor (a shared VM's neighbours), `idle`. Undefined without both readings or ticks.
 */
export function cpuShares(a: CpuTimes | undefined, b: CpuTimes | undefined): { stolen: number; idle: number } | undefined {
  if (!a || !b || b.total <= a.total) return undefined;
  const total = b.total - a.total;
  return { stolen: (b.steal - a.steal) / total, idle: (b.idle - a.idle) / total };
}
