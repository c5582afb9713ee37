import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ScenarioClient } from '../client.ts';
import { buildBundle } from '../engine/bundle.ts';
import type { RunSummary } from '../engine/types.ts';
import { registerSecrets, redactSecrets } from '../guardrails/redact.ts';
import { resolveSecrets } from '../worker/guard.ts';

/**
 * A run's failure bundle as JSON text. Workers redacted secrets before storing anything;
 * values of the scenario's credentials present in this process are redacted again, in
 * case a handler stored one under a form the worker did not know.
 */
export async function bundleText(client: ScenarioClient, runId: string): Promise<string | undefined> {
  const bundle = await buildBundle(client.redis, client.keys, runId);
  if (!bundle) return undefined;
  const names = [...bundle.scenario.credentials, ...bundle.scenario.steps.flatMap((s) => s.credentials)];
  registerSecrets(resolveSecrets([...new Set(names)]));
  return redactSecrets(`${JSON.stringify(bundle, null, 2)}\n`);
}

/** Writes `<dir>/<runId>.bundle.json`; returns its path, or undefined when the run is gone. */
export async function writeBundleFile(client: ScenarioClient, runId: string, dir: string): Promise<string | undefined> {
  const text = await bundleText(client, runId);
  if (text === undefined) return undefined;
  await mkdir(dir, { recursive: true });
  const path = join(dir, `${runId}.bundle.json`);
  await writeFile(path, text);
  return path;
}

/** `run --wait --bundle-dir`: one bundle per run that did not succeed; paths on stderr. */
export async function writeFailureBundles(client: ScenarioClient, summaries: readonly RunSummary[], dir: string): Promise<void> {
  for (const summary of summaries) {
    if (summary.status === 'succeeded') continue;
    const path = await writeBundleFile(client, summary.runId, dir);
    if (path) process.stderr.write(`bundle of ${summary.runId} (${summary.status}): ${path}\n`);
  }
}
