import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { parseServices } from '../../guardrails/services-schema.ts';
import { applyServices, loadServices } from '../../guardrails/services-store.ts';
import { readGuardStatus, type GuardStatus, type ServiceStatus } from '../../guardrails/status.ts';
import { resetBreaker } from '../../guardrails/breaker.ts';
import { withClient } from '../context.ts';
import { UsageError } from '../errors.ts';

function describeService(s: ServiceStatus): string {
  const parts = [s.name];
  const p = s.policy;
  parts.push(`in-flight ${s.inFlight}${p.maxConcurrency !== undefined ? `/${p.maxConcurrency}` : ''}`);
  if (s.windowUse) parts.push(`rate ${s.windowUse.used}/${s.windowUse.max} per ${s.windowUse.perMs}ms`);
  if (s.breaker && p.circuitBreaker) {
    const b = s.breaker;
    const detail = b.state === 'closed' ? `failures ${b.failures}/${p.circuitBreaker.failureThreshold}` : b.state === 'half_open' ? `probes ${b.probes}/${p.circuitBreaker.halfOpenMaxCalls}` : `since ${b.since}`;
    parts.push(`breaker ${b.state} (${detail}; whenOpen ${p.circuitBreaker.whenOpen})`);
  }
  parts.push(`spend $${s.spend.usd}, tokens ${s.spend.tokens.input} in / ${s.spend.tokens.output} out, ${s.spend.calls} calls`);
  return parts.join('  ');
}

function describeStatus(status: GuardStatus): string {
  const lines = status.services.length > 0 ? status.services.map(describeService) : ['no services applied (scenario-queue services apply services.yaml)'];
  if (status.maxConcurrentCalls) lines.push(`all services: in-flight ${status.maxConcurrentCalls.inFlight}/${status.maxConcurrentCalls.limit} (maxConcurrentCalls)`);
  if (status.daily) {
    const { budget, spent } = status.daily;
    const limit = (r: 'usd' | 'tokens' | 'calls') => (budget[r] === undefined ? '' : `/${budget[r]}`);
    lines.push(`daily budget ${status.daily.day}: usd ${spent.usd}${limit('usd')}, tokens ${spent.tokens}${limit('tokens')}, calls ${spent.calls}${limit('calls')} (onExceed ${budget.onExceed}; ${status.daily.reserved} reservations live)`);
  }
  for (const [scope, halt] of Object.entries(status.halts)) {
    lines.push(`HALTED ${scope === '*' ? 'globally' : `scenario ${scope}`} since ${new Date(halt.at).toISOString()}: ${halt.reason}`);
  }
  return `${lines.join('\n')}\n`;
}

/** `services apply|status|reset` (SPEC §8). */
export function registerServices(program: Command): void {
  const services = program.command('services').description('cluster-wide service policies: rate limits, concurrency, circuit breakers, pricing');

  services
    .command('apply')
    .description('validate services.yaml and store it; running workers pick it up without a restart')
    .argument('<file>', 'services.yaml')
    .action(async (file: string) => {
      const text = await readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) => {
        throw new UsageError(`${file}: ${e.code === 'ENOENT' ? 'file not found' : e.message}`);
      });
      const config = parseServices(text, file);
      await withClient(async (client) => {
        const version = await applyServices(client.redis, client.keys, config);
        const names = Object.keys(config.services);
        process.stdout.write(`applied ${file} (version ${version}): ${names.length > 0 ? names.join(', ') : 'no services'}\n`);
      });
    });

  services
    .command('status')
    .description('limits, in-flight attempts, rate window use, breaker state and spend per service')
    .argument('[name]', 'one service only')
    .option('--json', 'print JSON')
    .action(async (name: string | undefined, opts: { json?: boolean }) => {
      await withClient(async (client) => {
        if (name && !(name in (await loadServices(client.redis, client.keys)).services)) throw new UsageError(`unknown service "${name}": not in the applied services.yaml`);
        const status = await readGuardStatus(client.redis, client.keys, { service: name });
        process.stdout.write(opts.json ? `${JSON.stringify(status, null, 2)}\n` : describeStatus(status));
      });
    });

  services
    .command('reset')
    .description("close a service's circuit breaker and forget its failures")
    .argument('<name>', 'service name')
    .action(async (name: string) => {
      await withClient(async (client) => {
        if (!(name in (await loadServices(client.redis, client.keys)).services)) throw new UsageError(`unknown service "${name}": not in the applied services.yaml`);
        const { before } = await resetBreaker(client.redis, client.keys, name);
        process.stdout.write(`circuit of ${name} closed (was ${before})\n`);
      });
    });
}
