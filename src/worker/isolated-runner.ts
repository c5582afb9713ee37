/**
 * Child process of `isolation: process` (forked by isolation.ts): runs one attempt of one
 * handler and reports back over IPC. Logs, usage, checkpoints, artifacts and progress go
 * to the parent, which owns the Redis connection; the parent kills this process at the
 * attempt's deadline.
 */
import { pino, type DestinationStream } from 'pino';
import { DeterministicError, toFailure } from '../errors.ts';
import { createHandlerRegistry } from '../handlers/registry.ts';
import { loadHandlerModule } from '../handlers/load.ts';
import type { HandlerContext } from '../handlers/types.ts';
import { compileExpression, prepareContext } from '../scenario/cel.ts';
import type { ChildMessage, ContextCall, ParentMessage, StartMessage } from './isolation-messages.ts';

const pending = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
let nextId = 1;

function send(msg: ChildMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send) return resolve();
    process.send(msg, undefined, undefined, () => resolve());
  });
}

function call(request: ContextCall): Promise<void> {
  const id = nextId++;
  return new Promise<void>((resolve, reject) => {
    pending.set(id, { resolve, reject });
    void send({ type: 'call', id, ...request } as ChildMessage);
  });
}

function contextOf(start: StartMessage): HandlerContext {
  const lines: DestinationStream = { write: (line: string) => void send({ type: 'log', line }) };
  const prepared = prepareContext(start.scope);
  return {
    ...start.context,
    // Only the parent can stop the attempt, and it does so by killing this process.
    signal: new AbortController().signal,
    log: pino({ level: 'debug', base: {} }, lines),
    evaluate: (expression) => compileExpression(expression).evaluate(prepared),
    reportUsage: (usage) => void send({ type: 'usage', usage }),
    checkpoint: (data) => call({ method: 'checkpoint', args: [data] }),
    artifact: (name, data, contentType) => call({ method: 'artifact', args: [name, data, contentType] }),
    progress: (fraction) => call({ method: 'progress', args: [fraction] }),
  };
}

async function runAttempt(start: StartMessage): Promise<void> {
  let result: ChildMessage;
  try {
    const custom = start.handlersModule ? await loadHandlerModule(start.handlersModule) : [];
    const registry = createHandlerRegistry(custom);
    if (!registry.has(start.handler) && !start.handlersModule) {
      throw new DeterministicError(
        `unknown handler "${start.handler}" in the isolated process: custom handlers run with isolation: process only when the worker knows their module (--handlers, SQ_HANDLERS or createWorker({ handlersModule }))`,
        { kind: 'invalid_input' },
      );
    }
    const handler = registry.get(start.handler);
    const value = await handler.run(start.input, contextOf(start));
    result = { type: 'result', ok: true, value: value === undefined ? null : value };
  } catch (e) {
    result = { type: 'result', ok: false, failure: toFailure(e) };
  }
  try {
    await send(result);
  } catch (e) {
    await send({ type: 'result', ok: false, failure: { ...toFailure(e), kind: 'invalid_output' } });
  }
  process.exit(0);
}

process.on('message', (msg: ParentMessage) => {
  if (msg.type === 'start') {
    void runAttempt(msg);
    return;
  }
  const waiter = pending.get(msg.id);
  pending.delete(msg.id);
  if (msg.error) waiter?.reject(new Error(msg.error));
  else waiter?.resolve();
});
// The worker died: nothing is left to report to.
process.on('disconnect', () => process.exit(1));
