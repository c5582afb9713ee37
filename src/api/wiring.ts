import type { ScenarioClient } from '../client.ts';
import type { ApiProviders } from './providers.ts';

/** Connects the API to the modules that provide bundles, halt, services and recovery status. */
export function apiProviders(_client: ScenarioClient): ApiProviders {
  return {};
}
