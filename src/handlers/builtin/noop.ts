import { z } from 'zod';
import { defineHandler } from '../define.ts';

/** `noop`: does nothing and returns null; a placeholder or join point in a DAG. */
export const noop = defineHandler({
  name: 'noop',
  input: z.unknown(),
  run: () => null,
});
