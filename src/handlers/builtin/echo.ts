import { z } from 'zod';
import { defineHandler } from '../define.ts';

/** `echo`: returns its (rendered) `with`, so templates can be checked and values passed on. */
export const echo = defineHandler({
  name: 'echo',
  input: z.unknown(),
  run: (input) => input,
});
