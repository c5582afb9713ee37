import type { EnqueueOptions, ScenarioClient } from '../client.ts';
import { planResume } from '../engine/resume.ts';
import type { ScenarioDef } from '../scenario/types.ts';
import { UsageError } from './errors.ts';

/** What `run --resume RUN_ID` adds to the enqueue options. */
export interface ResumeEnqueue {
  /** The old run's input: defaults under the new `--input` values. */
  readonly input: Record<string, unknown>;
  readonly resume: NonNullable<EnqueueOptions['resume']>;
}

/** Plans the resume of `fromRunId` with the one scenario given, and says on stderr what is reused. */
export async function resumeFrom(client: ScenarioClient, fromRunId: string, defs: readonly ScenarioDef[]): Promise<ResumeEnqueue> {
  if (defs.length !== 1) throw new UsageError(`--resume takes exactly one scenario file, got ${defs.length}`);
  const def = defs[0];
  const plan = await planResume(client.redis, client.keys, fromRunId, def);
  if (!plan) throw new UsageError(`--resume ${fromRunId}: run not found (finished runs expire after their retention)`);
  if (plan.from.scenario !== def.name) {
    throw new UsageError(`--resume ${fromRunId}: that run is of scenario "${plan.from.scenario}", not "${def.name}"`);
  }
  const again = plan.rerun.map((r) => `${r.stepId} (${r.why})`);
  process.stderr.write(
    `resuming ${fromRunId}: reusing ${plan.reused.size} step${plan.reused.size === 1 ? '' : 's'}` +
      `${plan.reused.size > 0 ? ` (${[...plan.reused.keys()].join(', ')})` : ''}; running ${again.length} again${again.length > 0 ? `: ${again.join(', ')}` : ''}\n`,
  );
  return { input: plan.from.input, resume: { fromRunId, reused: plan.reused } };
}
