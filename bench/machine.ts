/** The machine a benchmark ran on, for the record next to its figures. */
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
