import type { Logger } from 'pino';
import type { ZodType } from 'zod';
import type { CostEstimate } from '../scenario/types.ts';

/** Usage a handler reports; the engine prices tokens with the service's pricing when `usd` is absent. */
export interface Usage {
  tokens?: { input?: number; output?: number };
  calls?: number;
  usd?: number;
  /** Model name, used to look up `pricing` of the step's service. */
  model?: string;
}

/** What a handler gets besides its input (SPEC §4). */
export interface HandlerContext {
  readonly runId: string;
  readonly stepId: string;
  readonly attempt: number;
  /** Aborts on attempt/group/run timeout, cancel and halt. */
  readonly signal: AbortSignal;
  readonly log: Logger;
  /** True when the step runs mocked (`--mock` or a credential gate with `mock`). */
  readonly mock: boolean;
  /** The step's `mock.output`, when the scenario gave one. */
  readonly mockOutput?: { output: unknown };
  /** Only the step's declared credentials, by name. */
  readonly secrets: Readonly<Record<string, string>>;
  /** Service name of the step, if any. */
  readonly service?: string;
  /**
   * Evaluates a CEL expression against the run's expression context (SPEC §3: `input`,
   * `steps.<id>.output|status`, `run.*`); throws when the expression cannot be evaluated.
   * Provided by the engine so handlers such as `assert` never build their own context.
   */
  evaluate(expression: string): unknown;
  reportUsage(usage: Usage): void;
  /** Partial progress kept even if the attempt dies. */
  checkpoint(data: unknown): Promise<void>;
  artifact(name: string, data: string | Uint8Array, contentType?: string): Promise<void>;
  progress(fraction: number): Promise<void>;
}

export interface HandlerDefinition<I = unknown, O = unknown> {
  readonly name: string;
  readonly input: ZodType<I>;
  run(input: I, ctx: HandlerContext): Promise<O> | O;
  /** The handler's own cost estimate, reserved before an attempt when the step has no `cost:`. */
  estimate?(input: I): CostEstimate | undefined;
}
