import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ScenarioError, type Failure } from '../errors.ts';
import type { HandlerContext, HandlerDefinition } from '../handlers/types.ts';
import type { ExpressionContext } from '../scenario/cel.ts';
import type { StepDef } from '../scenario/types.ts';
import type { ChildMessage, ParentMessage, StartMessage } from './isolation-messages.ts';

const RUNNER = fileURLToPath(new URL('./isolated-runner.ts', import.meta.url));
/** The child loads TypeScript (ours and custom handler modules) the way the CLI does. */
const EXEC_ARGV = ['--import', import.meta.resolve('tsx')];
/** A child that returned its result but has not exited by then is killed. */
const EXIT_AFTER_RESULT_MS = 1_000;

export interface IsolationOptions {
  /** The worker's custom handler module (`--handlers` / SQ_HANDLERS), loaded by the child. */
  readonly handlersModule?: string;
  /** The attempt's expression context (no secrets), for `ctx.evaluate` in the child. */
  readonly scope: ExpressionContext;
}

function failureError(failure: Failure): ScenarioError {
  const error = new ScenarioError(failure.kind, failure.message, { retryable: failure.retryable, retryAfterMs: failure.retryAfterMs, details: failure.details });
  if (failure.stack) error.stack = failure.stack;
  return error;
}

function alive(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

/** Performs a `ctx` call the child asked for, replying with the error message if it failed. */
async function serveCall(child: ChildProcess, ctx: HandlerContext, msg: Extract<ChildMessage, { type: 'call' }>): Promise<void> {
  let error: string | undefined;
  try {
    if (msg.method === 'checkpoint') await ctx.checkpoint(msg.args[0]);
    else if (msg.method === 'artifact') await ctx.artifact(msg.args[0], msg.args[1], msg.args[2]);
    else await ctx.progress(msg.args[0]);
  } catch (e) {
    error = e instanceof Error ? e.message : String(e);
  }
  if (alive(child) && child.connected) child.send({ type: 'reply', id: msg.id, ...(error ? { error } : {}) } satisfies ParentMessage);
}

/** Re-logs a child's JSON line through the attempt logger, which adds run, step and attempt. */
function relog(ctx: HandlerContext, line: string): void {
  try {
    const { level, time: _time, msg, ...fields } = JSON.parse(line) as { level: number; time?: number; msg?: string };
    const method = level >= 50 ? 'error' : level >= 40 ? 'warn' : level >= 30 ? 'info' : 'debug';
    ctx.log[method]({ ...fields, isolated: true }, msg ?? '');
  } catch {
    ctx.log.info({ isolated: true, line }, 'handler output');
  }
}

function runInChild(handler: HandlerDefinition, input: unknown, ctx: HandlerContext, options: IsolationOptions): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const child = fork(RUNNER, [], { execArgv: EXEC_ARGV, serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let settled = false;
    const kill = () => {
      if (alive(child)) child.kill('SIGKILL');
    };
    const settle = (done: () => void) => {
      if (settled) return;
      settled = true;
      ctx.signal.removeEventListener('abort', onAbort);
      setTimeout(kill, EXIT_AFTER_RESULT_MS).unref();
      done();
    };
    // The deadline (or cancel, halt, shutdown) kills the process: a handler that ignores its
    // signal, or blocks its event loop, cannot outlive its attempt.
    const onAbort = () => {
      kill();
      settle(() => reject(ctx.signal.reason));
    };
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    child.on('message', (msg: ChildMessage) => {
      if (msg.type === 'log') relog(ctx, msg.line);
      else if (msg.type === 'usage') ctx.reportUsage(msg.usage);
      else if (msg.type === 'call') void serveCall(child, ctx, msg);
      else if (msg.ok) settle(() => resolve(msg.value));
      else settle(() => reject(failureError(msg.failure)));
    });
    child.on('error', (err) => settle(() => reject(new ScenarioError('error', `handler "${handler.name}" process failed: ${err.message}`))));
    child.on('exit', (code, signal) => {
      const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      settle(() => reject(new ScenarioError('error', `handler "${handler.name}" process ${how} before returning a result (isolation: process)`)));
    });
    if (ctx.signal.aborted) return onAbort();
    const start: StartMessage = {
      type: 'start',
      handler: handler.name,
      handlersModule: options.handlersModule,
      input,
      context: {
        runId: ctx.runId,
        stepId: ctx.stepId,
        attempt: ctx.attempt,
        mock: ctx.mock,
        mockOutput: ctx.mockOutput,
        secrets: { ...ctx.secrets },
        service: ctx.service,
      },
      scope: options.scope,
    };
    child.send(start satisfies ParentMessage);
  });
}

/**
 * The handler a step runs with: itself, or for `isolation: process` (SPEC §6) a stand-in
 * that runs it in a child process, validated here, killed at the attempt's deadline.
 */
export function isolate(handler: HandlerDefinition, step: StepDef, options: IsolationOptions): HandlerDefinition {
  if (step.isolation !== 'process') return handler;
  return { ...handler, run: (input, ctx) => runInChild(handler, input, ctx, options) };
}
