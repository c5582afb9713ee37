/**
 * Mock mode for handlers that reach the outside world (SPEC §10). The engine may already
 * short-circuit mocked steps; handlers honour it too so no path makes a live call.
 */
import { DeterministicError } from '../errors.ts';
import type { HandlerContext } from './types.ts';

/**
 * `{ output }` when the step runs mocked and a mock output (or recording) was supplied;
 * undefined for a live run. A mocked step without one fails rather than calling out:
 * mock mode exists precisely to avoid the live call (no credentials, no spend).
 */
export function mockedResult(ctx: HandlerContext, handler: string): { output: unknown } | undefined {
  if (!ctx.mock) return undefined;
  if (ctx.mockOutput) return { output: ctx.mockOutput.output };
  throw new DeterministicError(
    `step "${ctx.stepId}" runs mocked but has no mock.output or recording for handler "${handler}"`,
    { kind: 'invalid_input' },
  );
}
