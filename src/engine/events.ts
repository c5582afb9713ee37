import type { EventType, ScenarioEvent } from './types.ts';

/** Approximate MAXLEN of the global events stream, for every script that writes to it. */
export const GLOBAL_EVENTS_CAP = 10_000;

/** Turns a stream entry written by the scripts back into a ScenarioEvent. */
export function parseEvent(id: string, fields: string[]): ScenarioEvent {
  const f: Record<string, string> = {};
  for (let i = 0; i < fields.length; i += 2) f[fields[i]] = fields[i + 1];
  const event: ScenarioEvent = { id, type: f.type as EventType, ts: Number(f.ts), data: f.data ? (JSON.parse(f.data) as Record<string, unknown>) : {} };
  if (f.runId) event.runId = f.runId;
  if (f.stepId) event.stepId = f.stepId;
  if (f.attempt) event.attempt = Number(f.attempt);
  if (f.workerId) event.workerId = f.workerId;
  return event;
}
