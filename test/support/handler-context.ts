import { pino } from 'pino';
import type { HandlerContext, Usage } from '../../src/handlers/types.ts';

/** A minimal HandlerContext for handler unit tests (the engine builds the real one); usage is collected. */
export function testContext(over: Partial<HandlerContext> = {}): HandlerContext & { usage: Usage[] } {
  const usage: Usage[] = [];
  return {
    runId: 'run-1',
    stepId: 'step',
    attempt: 1,
    signal: new AbortController().signal,
    log: pino({ level: 'silent' }),
    mock: false,
    secrets: {},
    evaluate: () => {
      throw new Error('no expression context in this test');
    },
    reportUsage: (u) => usage.push(u),
    checkpoint: async () => {},
    artifact: async () => {},
    progress: async () => {},
    usage,
    ...over,
  };
}
