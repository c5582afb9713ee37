#!/usr/bin/env node
// Loads the TypeScript sources through tsx so that custom handler modules written in
// TypeScript (--handlers ./handlers/index.ts) load the same way as ours.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
