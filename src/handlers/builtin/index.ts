import { assert } from './assert.ts';
import { echo } from './echo.ts';
import { fault } from './fault.ts';
import { http } from './http.ts';
import { llm } from './llm.ts';
import { noop } from './noop.ts';
import { sleep } from './sleep.ts';
import type { HandlerDefinition } from '../types.ts';

export { assert, echo, fault, http, llm, noop, sleep };

/** Every built-in handler (SPEC §4), in documentation order. */
export const BUILTIN_HANDLERS: readonly HandlerDefinition[] = [noop, echo, sleep, http, llm, assert, fault];
