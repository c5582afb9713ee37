import type { ScenarioClient } from '../client.ts';
import { buildBundle } from '../engine/bundle.ts';
import { createRunStore } from '../engine/store.ts';
import { halt, unhalt } from '../guardrails/halt.ts';
import { readGuardStatus } from '../guardrails/status.ts';
import { lastReport } from '../recovery/report.ts';
import type { ApiProviders } from './providers.ts';

/** Connects the API to the modules that provide bundles, halt, services status and the reaper's last report. */
export function apiProviders(client: ScenarioClient): ApiProviders {
  const { redis, keys } = client;
  const store = createRunStore(redis, keys);
  return {
    bundle: (runId) => buildBundle(redis, keys, runId),
    async halt(request) {
      const { ended } = await halt(redis, keys, store, request);
      return { ended };
    },
    async unhalt(scenario) {
      return { lifted: await unhalt(redis, keys, { scenario }) };
    },
    services: () => readGuardStatus(redis, keys),
    recoveryStatus: () => lastReport(redis, keys),
  };
}
