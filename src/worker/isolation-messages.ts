import type { Failure } from '../errors.ts';
import type { Usage } from '../handlers/types.ts';
import type { ExpressionContext } from '../scenario/cel.ts';

/** What the child needs to run one attempt of a handler. */
export interface StartMessage {
  type: 'start';
  handler: string;
  /** Custom handler module to load (built-ins are always there). */
  handlersModule?: string;
  /** Validated by the parent with the handler's own schema. */
  input: unknown;
  context: {
    runId: string;
    stepId: string;
    attempt: number;
    mock: boolean;
    mockOutput?: { output: unknown };
    secrets: Record<string, string>;
    service?: string;
  };
  /** For `ctx.evaluate`: the run's expression context without secrets. */
  scope: ExpressionContext;
}

/** `ctx` methods the parent performs for the child (they write to Redis). */
export type ContextCall =
  | { method: 'checkpoint'; args: [unknown] }
  | { method: 'artifact'; args: [string, string | Uint8Array, string | undefined] }
  | { method: 'progress'; args: [number] };

export type ChildMessage =
  | { type: 'log'; line: string }
  | { type: 'usage'; usage: Usage }
  | ({ type: 'call'; id: number } & ContextCall)
  | { type: 'result'; ok: true; value: unknown }
  | { type: 'result'; ok: false; failure: Failure };

export type ParentMessage = StartMessage | { type: 'reply'; id: number; error?: string };
