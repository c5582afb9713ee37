import type { RedisConnection } from '../redis/connection.ts';
import type { Keys } from '../redis/keys.ts';
import type { EventType } from '../engine/types.ts';

import { GLOBAL_EVENTS_CAP } from '../engine/events.ts';

export interface RecoveryEvent {
  type: Extract<EventType, `recovery.${string}`>;
  runId?: string;
  stepId?: string;
  attempt?: number;
  workerId: string;
  data: Record<string, unknown>;
  /** Also append to the run's stream (not for runs that no longer exist). @default true with a runId */
  runStream?: boolean;
}

/**
 * Appends a `recovery.*` event to the capped global stream, with the field layout the
 * engine scripts write (so parseEvent reads both); an event about a run also goes to the
 * run's own stream, so its timeline shows the repair.
 */
export async function emitRecoveryEvent(redis: RedisConnection, keys: Keys, event: RecoveryEvent, now = Date.now()): Promise<void> {
  const fields: string[] = ['type', event.type, 'ts', String(now)];
  if (event.runId) fields.push('runId', event.runId);
  if (event.stepId) fields.push('stepId', event.stepId);
  if (event.attempt !== undefined) fields.push('attempt', String(event.attempt));
  if (event.workerId) fields.push('workerId', event.workerId);
  fields.push('data', JSON.stringify(event.data));
  const tx = redis.multi().xadd(keys.globalEvents, 'MAXLEN', '~', GLOBAL_EVENTS_CAP, '*', ...fields);
  if (event.runId && event.runStream !== false) tx.xadd(keys.runEvents(event.runId), '*', ...fields);
  await tx.exec();
}
