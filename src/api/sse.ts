import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ScenarioClient } from '../client.ts';
import { TERMINAL_RUN_STATUSES } from '../engine/types.ts';

/** A Redis stream entry id: the SSE `id:` of every event and the `Last-Event-ID` to resume from. */
export const STREAM_ID = /^\d{1,20}-\d{1,20}$/;
const PING_MS = 15_000;

export interface SseOptions {
  readonly client: ScenarioClient;
  readonly runId: string;
  /** Resume after this entry; undefined replays the run's events from the first. */
  readonly after?: string;
}

/**
 * Streams a run's events as Server-Sent Events: replay after `after`, then live until the run
 * ends, then an `end` event and the connection closes (clients close their EventSource on
 * `end`; a reconnect with the last id gets the rest, or only `end` when nothing is left).
 */
export async function streamRunEvents(request: FastifyRequest, reply: FastifyReply, options: SseOptions): Promise<void> {
  const { client, runId } = options;
  const summary = await client.status(runId);
  const follow = summary !== undefined && !TERMINAL_RUN_STATUSES.includes(summary.status);
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  res.write('retry: 2000\n\n');
  const closed = new AbortController();
  const onClose = () => closed.abort();
  // The response's close, not the request's: a GET's request stream closes as soon as it is read.
  res.once('close', onClose);
  const ping = setInterval(() => res.write(': ping\n\n'), PING_MS);
  try {
    for await (const event of client.events(runId, { follow, signal: closed.signal, fromId: options.after })) {
      res.write(`id: ${event.id}\ndata: ${JSON.stringify(event)}\n\n`);
    }
    res.write('event: end\ndata: {}\n\n');
  } catch (err) {
    if (!closed.signal.aborted) {
      request.log.warn({ err, runId }, 'event stream failed');
      res.write('event: error\ndata: {"error":"event stream failed"}\n\n');
    }
  } finally {
    clearInterval(ping);
    res.off('close', onClose);
    res.end();
  }
}
