/**
 * Sampled allocations of a benchmark worker child, collected objects included, for finding
 * what a step allocates: BENCH_HEAP_PROFILE_DIR=/tmp/heap npm run bench -- --only throughput
 * writes one `<side>-<pid>.heapprofile` per child (open it in Chrome DevTools' Memory tab).
 * With BENCH_HEAP_PROFILE_SURVIVORS=1 only objects that outlived a young-generation collection
 * are sampled: what gets promoted, the costly part of a scavenge. Off unless the variable is set; the sampling itself costs CPU, so figures of such a run mean
 * nothing.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';

/** Starts sampling when BENCH_HEAP_PROFILE_DIR is set; the returned function writes the profile. */
export async function startHeapSampling(side: string): Promise<() => Promise<void>> {
  const dir = process.env.BENCH_HEAP_PROFILE_DIR;
  if (!dir) return async () => undefined;
  const session = new Session();
  session.connect();
  await session.post('HeapProfiler.enable');
  await session.post('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: process.env.BENCH_HEAP_PROFILE_SURVIVORS !== '1' } as never);
  return async () => {
    const { profile } = await session.post('HeapProfiler.stopSampling');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `${side}-${process.pid}.heapprofile`), JSON.stringify(profile));
    session.disconnect();
  };
}
