/**
 * What the API serves from other modules: failure bundles (src/recovery), the kill switch and
 * service state (src/guardrails), the reaper's last report. Each is optional so the API runs
 * before those modules are wired; the fallbacks are documented in docs/api.md.
 */
import type { ScenarioClient } from '../client.ts';

export interface HaltRequest {
  /** Halts one scenario; absent halts everything. */
  readonly scenario?: string;
  readonly reason: string;
  /** Also aborts running attempts. */
  readonly abortRunning?: boolean;
}

export interface ApiProviders {
  /** The failure bundle of a run (SPEC §12); undefined when the run does not exist. */
  bundle?(runId: string): Promise<unknown | undefined>;
  halt?(request: HaltRequest): Promise<unknown>;
  unhalt?(scenario?: string): Promise<unknown>;
  /** Services with their limits, in-flight, breaker state and spend, and budget scopes. */
  services?(): Promise<unknown>;
  /** The reaper's last report, undefined before its first pass. */
  recoveryStatus?(): Promise<unknown | undefined>;
}

/**
 * The bundle when the recovery module provides none: the summary and every event of the run,
 * marked `minimal` so a reader knows outputs, checkpoints and artifacts are not included.
 */
export async function minimalBundle(client: ScenarioClient, runId: string): Promise<unknown | undefined> {
  const summary = await client.status(runId);
  if (!summary) return undefined;
  const events = [];
  for await (const event of client.events(runId)) events.push(event);
  return { minimal: true, runId, summary, events };
}
