/**
 * SPEC §20: docker-compose.yml and deploy/ read the way an operator would: images, ports,
 * probes, grace periods, autoscaling keys and every SQ_* / REDIS_* name against the config
 * schema; plus the offline validators (docker-compose config, promtool, kubectl kustomize).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { EnvSchema, loadEnv } from '../../src/config.ts';
import { STEP_QUEUE } from '../../src/redis/keys.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');
const have = (tool: string, ...args: string[]) => spawnSync(tool, args, { stdio: 'ignore' }).status === 0;
const inCi = Boolean(process.env.CI);
const KNOWN_ENV = new Set(Object.keys(EnvSchema.shape));

/** Names the config schema must know: our own variables, not credentials handed to steps. */
const ownNames = (names: Iterable<string>) => [...names].filter((n) => n.startsWith('SQ_') || n.startsWith('REDIS_'));

type Doc = Record<string, any>;

/** `${VAR:-default}` as compose resolves it with an empty environment. */
const composeDefault = (value: unknown) => String(value).replace(/\$\{(\w+)(?::?-([^}]*))?\}/g, (_, _name: string, def?: string) => def ?? '');

function seconds(duration: string): number {
  const m = /^(\d+)(ms|s|m)$/.exec(duration);
  if (!m) throw new Error(`unreadable duration ${duration}`);
  return Number(m[1]) / (m[2] === 'ms' ? 1000 : m[2] === 'm' ? 1 / 60 : 1);
}

describe('docker-compose.yml', () => {
  const compose = parse(read('docker-compose.yml'), { merge: true }) as Doc;
  const { redis, api, worker, prometheus, grafana } = compose.services;
  const env = (service: Doc): Record<string, string> => Object.fromEntries(Object.entries(service.environment ?? {}).map(([k, v]) => [k, composeDefault(v)]));

  it('runs Redis 7 with AOF, noeviction and a named volume', () => {
    expect(redis.image).toMatch(/^redis:7/);
    expect(redis.command.join(' ')).toContain('--appendonly yes');
    expect(redis.command.join(' ')).toContain('--maxmemory-policy noeviction');
    const [volume, target] = String(redis.volumes[0]).split(':');
    expect(target).toBe('/data');
    expect(Object.keys(compose.volumes)).toContain(volume);
  });

  it('builds one image from deploy/Dockerfile for the api and the workers', () => {
    for (const service of [api, worker]) {
      expect(service.build).toEqual({ context: '.', dockerfile: 'deploy/Dockerfile' });
      expect(service.image).toBe(api.image);
    }
    expect(api.command[0]).toBe('api');
    expect(worker.command).toEqual(['worker']);
    expect(api.ports.map((p: unknown) => composeDefault(p))).toEqual([`8080:${env(api).SQ_API_PORT}`]);
  });

  it('lets workers scale: no host port, no container name, metrics on the network only', () => {
    expect(worker.ports).toBeUndefined();
    expect(worker.container_name).toBeUndefined();
    expect(worker.expose.map(String)).toEqual([env(worker).SQ_METRICS_PORT]);
  });

  it('gives a stopping worker longer than its shutdown grace plus the hand-back margin', () => {
    const graceMs = Number(env(worker).SQ_SHUTDOWN_GRACE_MS);
    expect(seconds(worker.stop_grace_period) * 1000).toBeGreaterThanOrEqual(graceMs + 6_000);
  });

  it('uses only environment names the config schema knows, with values it accepts', () => {
    for (const service of [api, worker]) {
      const vars = env(service);
      for (const name of ownNames(Object.keys(vars))) expect(KNOWN_ENV, `${name} in docker-compose.yml`).toContain(name);
      expect(() => loadEnv(vars)).not.toThrow();
    }
  });

  it('scrapes the api and every worker replica, with the alert rules loaded', () => {
    const mounts = prometheus.volumes.map(String);
    expect(mounts).toContain('./deploy/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro');
    expect(mounts).toContain('./deploy/prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro');
    expect(prometheus.environment.SQ_API_TOKEN).toBe(api.environment.SQ_API_TOKEN);
    const config = parse(read('deploy/prometheus/prometheus.yml')) as Doc;
    const jobs = Object.fromEntries((config.scrape_configs as Doc[]).map((j) => [j.job_name, j]));
    expect(jobs['scenario-queue-api'].static_configs[0].targets).toEqual([`api:${env(api).SQ_API_PORT}`]);
    expect(jobs['scenario-queue-api'].authorization.credentials_file).toBe('secrets/api-token');
    expect(prometheus.command[0]).toContain('/etc/prometheus/secrets/api-token');
    expect(jobs['scenario-queue-worker'].dns_sd_configs).toEqual([{ names: ['worker'], type: 'A', port: Number(env(worker).SQ_METRICS_PORT), refresh_interval: '15s' }]);
    expect(config.rule_files).toEqual(['alerts.yml']);
  });

  it('provisions Grafana with the Prometheus datasource and the dashboard', () => {
    const mounts = grafana.volumes.map(String);
    expect(mounts).toContain('./deploy/grafana/provisioning:/etc/grafana/provisioning:ro');
    const datasource = parse(read('deploy/grafana/provisioning/datasources/prometheus.yml')) as Doc;
    expect(datasource.datasources[0]).toMatchObject({ type: 'prometheus', uid: 'prometheus', url: 'http://prometheus:9090' });
    const provider = parse(read('deploy/grafana/provisioning/dashboards/scenario-queue.yml')) as Doc;
    const dashboardsMount = mounts.find((m: string) => m.startsWith('./deploy/grafana/dashboards:'));
    expect(dashboardsMount?.split(':')[1]).toBe(provider.providers[0].options.path);
    expect(readdirSync(join(ROOT, 'deploy/grafana/dashboards'))).toContain('scenario-queue.json');
  });

  it.skipIf(!have('docker-compose', 'version') && !inCi)('passes docker-compose config (offline)', () => {
    const res = spawnSync('docker-compose', ['-f', 'docker-compose.yml', 'config', '--quiet'], { cwd: ROOT, encoding: 'utf8' });
    expect(res.stderr).toBe('');
    expect(res.status).toBe(0);
  });
});

describe('deploy/Dockerfile', () => {
  const dockerfile = read('deploy/Dockerfile');
  const pkg = JSON.parse(read('package.json')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };

  it('is multi-stage, installs production dependencies only, and runs as a non-root user with a healthcheck', () => {
    expect(dockerfile.match(/^FROM /gm)?.length).toBeGreaterThanOrEqual(2);
    expect(dockerfile).toMatch(/npm ci --omit=dev/);
    const user = /^USER (\S+)/m.exec(dockerfile)?.[1];
    expect(user).toBeDefined();
    expect(['root', '0']).not.toContain(user);
    expect(dockerfile).toMatch(/^HEALTHCHECK .*\n?.*CMD \["node", "\/app\/deploy\/healthcheck.mjs"\]/m);
    expect(dockerfile).toMatch(/^ENTRYPOINT \["node", "\/app\/bin\/scenario-queue.js"\]/m);
    expect(dockerfile).toMatch(/^EXPOSE 8080 9464$/m);
  });

  it('can run the TypeScript sources without devDependencies: tsx is a runtime dependency', () => {
    expect(pkg.dependencies.tsx).toBeDefined();
    expect(pkg.devDependencies.tsx).toBeUndefined();
    expect(read('bin/scenario-queue.js')).toContain("from 'tsx/esm/api'");
    for (const dir of ['bin', 'src']) expect(dockerfile).toContain(`COPY --chown=root:root ${dir} ./${dir}`);
  });
});

describe('deploy/k8s', () => {
  const docs: Doc[] = readdirSync(join(ROOT, 'deploy/k8s'))
    .filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
    .flatMap((f) => parseAllDocuments(read(`deploy/k8s/${f}`)).map((d) => ({ ...(d.toJS() as Doc), file: f })));
  const find = (kind: string, name: string) => {
    const doc = docs.find((d) => d.kind === kind && d.metadata.name === name);
    if (!doc) throw new Error(`no ${kind} ${name} in deploy/k8s`);
    return doc;
  };
  const kustomization = parse(read('deploy/k8s/kustomization.yaml')) as Doc;
  const config = find('ConfigMap', 'scenario-queue').data as Record<string, string>;
  const secret = find('Secret', 'scenario-queue').stringData as Record<string, string>;
  const apiDeploy = find('Deployment', 'scenario-queue-api');
  const workerDeploy = find('Deployment', 'scenario-queue-worker');
  const container = (d: Doc) => d.spec.template.spec.containers[0] as Doc;
  const containerEnv = (d: Doc): Record<string, string> => ({ ...config, ...secret, ...Object.fromEntries((container(d).env ?? []).map((e: Doc) => [e.name, e.value])) });
  const portNamed = (d: Doc, name: string) => (container(d).ports as Doc[]).find((p) => p.name === name)?.containerPort as number;

  it('deploys the same pinned image for api and workers, and applies the core objects', () => {
    for (const d of [apiDeploy, workerDeploy]) {
      expect(container(d).image).toBe('scenario-queue');
      expect(container(d).envFrom).toEqual([{ configMapRef: { name: 'scenario-queue' } }, { secretRef: { name: 'scenario-queue' } }]);
    }
    expect(kustomization.images).toEqual([{ name: 'scenario-queue', newTag: expect.stringMatching(/^\d+\.\d+\.\d+$/) }]);
    expect(kustomization.resources).toEqual(['namespace.yaml', 'config.yaml', 'api.yaml', 'worker.yaml', 'pdb.yaml']);
  });

  it('uses only environment names the config schema knows, with values it accepts', () => {
    for (const d of [apiDeploy, workerDeploy]) {
      const vars = containerEnv(d);
      for (const name of ownNames(Object.keys(vars))) expect(KNOWN_ENV, `${name} in deploy/k8s`).toContain(name);
      expect(() => loadEnv(vars)).not.toThrow();
    }
  });

  it('probes the worker on its metrics port: /readyz for readiness, /healthz for liveness', () => {
    const c = container(workerDeploy);
    expect(c.args).toEqual(['worker']);
    expect(portNamed(workerDeploy, 'metrics')).toBe(Number(containerEnv(workerDeploy).SQ_METRICS_PORT));
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'metrics' });
    expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
    expect(c.resources.requests).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
  });

  it('lets a terminating worker drain: grace period above preStop + SQ_SHUTDOWN_GRACE_MS + margin, preStop never signals', () => {
    const c = container(workerDeploy);
    const preStop = c.lifecycle.preStop.exec.command as string[];
    expect(preStop.join(' ')).not.toMatch(/kill|pkill/);
    const preStopS = preStop[0] === 'sleep' ? Number(preStop[1]) : 0;
    const graceS = workerDeploy.spec.template.spec.terminationGracePeriodSeconds as number;
    expect(graceS * 1000).toBeGreaterThan(preStopS * 1000 + Number(config.SQ_SHUTDOWN_GRACE_MS) + 6_000);
    expect(workerDeploy.spec.strategy.rollingUpdate.maxUnavailable).toBe(0);
  });

  it('serves the api on SQ_API_PORT behind a Service, with /readyz and /healthz probes', () => {
    const c = container(apiDeploy);
    expect(c.args[0]).toBe('api');
    expect(portNamed(apiDeploy, 'http')).toBe(Number(config.SQ_API_PORT));
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http' });
    expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(c.resources.requests).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
    expect(find('Service', 'scenario-queue-api').spec.ports[0].targetPort).toBe('http');
  });

  it('runs both as non-root with a read-only root filesystem and a writable /tmp (tsx cache)', () => {
    for (const d of [apiDeploy, workerDeploy]) {
      expect(d.spec.template.spec.securityContext.runAsNonRoot).toBe(true);
      expect(container(d).securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true });
      expect(container(d).volumeMounts).toContainEqual({ name: 'tmp', mountPath: '/tmp' });
    }
  });

  it('selects the right pods with every Service, PodDisruptionBudget and ServiceMonitor', () => {
    const podLabels = (d: Doc) => d.spec.template.metadata.labels as Record<string, string>;
    const matches = (selector: Record<string, string>, labels: Record<string, string>) => Object.entries(selector).every(([k, v]) => labels[k] === v);
    expect(matches(find('Service', 'scenario-queue-worker').spec.selector, podLabels(workerDeploy))).toBe(true);
    expect(find('Service', 'scenario-queue-worker').spec.clusterIP).toBe('None');
    expect(matches(find('Service', 'scenario-queue-api').spec.selector, podLabels(apiDeploy))).toBe(true);
    expect(matches(find('PodDisruptionBudget', 'scenario-queue-worker').spec.selector.matchLabels, podLabels(workerDeploy))).toBe(true);
    expect(find('PodDisruptionBudget', 'scenario-queue-worker').spec.maxUnavailable).toBe(1);
    expect(matches(find('PodDisruptionBudget', 'scenario-queue-api').spec.selector.matchLabels, podLabels(apiDeploy))).toBe(true);
    for (const [monitor, service] of [['scenario-queue-worker', 'scenario-queue-worker'], ['scenario-queue-api', 'scenario-queue-api']]) {
      const sm = find('ServiceMonitor', monitor);
      const svc = find('Service', service);
      expect(matches(sm.spec.selector.matchLabels, svc.metadata.labels)).toBe(true);
      expect(svc.spec.ports.map((p: Doc) => p.name)).toContain(sm.spec.endpoints[0].port);
      expect(sm.spec.endpoints[0].path).toBe('/metrics');
    }
    expect(find('ServiceMonitor', 'scenario-queue-api').spec.endpoints[0].authorization.credentials).toEqual({ name: 'scenario-queue', key: 'SQ_API_TOKEN' });
  });

  it('scales workers with KEDA on the BullMQ wait list of the steps queue', () => {
    const scaled = find('ScaledObject', 'scenario-queue-worker');
    expect(scaled.spec.scaleTargetRef.name).toBe(workerDeploy.metadata.name);
    const [trigger] = scaled.spec.triggers as Doc[];
    expect(trigger.type).toBe('redis');
    // BullMQ 6 key layout: `<prefix>:<queue>:wait` is the LIST of jobs ready to run.
    expect(trigger.metadata.listName).toBe(`${config.SQ_PREFIX}:${STEP_QUEUE}:wait`);
    expect(trigger.metadata.listLength).toBe(config.SQ_CONCURRENCY);
    expect(scaled.spec.minReplicaCount).toBeGreaterThanOrEqual(1);
    expect(find('TriggerAuthentication', trigger.authenticationRef.name).spec.secretTargetRef[0]).toMatchObject({ parameter: 'password', name: 'scenario-queue-redis' });
  });

  it('offers a plain HPA on the exported queue-depth metric instead', () => {
    const hpa = find('HorizontalPodAutoscaler', 'scenario-queue-worker');
    expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: workerDeploy.metadata.name });
    expect(hpa.spec.metrics[0].external.metric).toEqual({ name: 'sq_queue_jobs', selector: { matchLabels: { queue: STEP_QUEUE, state: 'wait' } } });
    expect(hpa.spec.metrics[0].external.target.averageValue).toBe(config.SQ_CONCURRENCY);
  });

  it('ships the alert rules of deploy/prometheus/alerts.yml unchanged as a PrometheusRule', () => {
    const rules = parse(read('deploy/prometheus/alerts.yml')) as Doc;
    expect(find('PrometheusRule', 'scenario-queue').spec.groups).toEqual(rules.groups);
  });

  it.skipIf(!have('kubectl', 'version', '--client'))('renders with kubectl kustomize and the pinned image', () => {
    const res = spawnSync('kubectl', ['kustomize', 'deploy/k8s'], { cwd: ROOT, encoding: 'utf8' });
    expect(res.status, res.stderr).toBe(0);
    const rendered = res.stdout.split(/^---$/m).map((d) => parse(d) as Doc);
    expect(rendered.filter((d) => d.kind === 'Deployment').map((d) => container(d).image)).toEqual([`scenario-queue:${kustomization.images[0].newTag}`, `scenario-queue:${kustomization.images[0].newTag}`]);
    expect(rendered.every((d) => d.kind === 'Namespace' || d.metadata.namespace === 'scenario-queue')).toBe(true);
  });
});

describe('deploy/prometheus', () => {
  const needPromtool = !have('promtool', '--version') && !inCi;

  it.skipIf(needPromtool)('has a prometheus.yml that promtool check config accepts as checked in', () => {
    const res = spawnSync('promtool', ['check', 'config', 'deploy/prometheus/prometheus.yml'], { cwd: ROOT, encoding: 'utf8' });
    expect(res.status, `${res.stdout}${res.stderr}`).toBe(0);
    // The checked-in token file is only the compose default; compose writes $SQ_API_TOKEN over it in the container.
    const compose = parse(read('docker-compose.yml'), { merge: true }) as Doc;
    expect(read('deploy/prometheus/secrets/api-token')).toBe(composeDefault(compose.services.api.environment.SQ_API_TOKEN));
  });

  it.skipIf(needPromtool)('has alert rules that promtool check rules accepts and whose unit tests pass', () => {
    const check = spawnSync('promtool', ['check', 'rules', 'deploy/prometheus/alerts.yml'], { cwd: ROOT, encoding: 'utf8' });
    expect(check.status, `${check.stdout}${check.stderr}`).toBe(0);
    const tests = spawnSync('promtool', ['test', 'rules', 'deploy/prometheus/alerts.test.yml'], { cwd: ROOT, encoding: 'utf8' });
    expect(tests.status, `${tests.stdout}${tests.stderr}`).toBe(0);
  });

  it('alerts on an open breaker, budget ≥ 80 %, stalled jobs, a growing backlog and no live workers', () => {
    const rules = (parse(read('deploy/prometheus/alerts.yml')) as Doc).groups.flatMap((g: Doc) => g.rules) as Doc[];
    const alerts: Record<string, Doc> = Object.fromEntries(rules.filter((r) => r.alert).map((r) => [r.alert, r]));
    expect(alerts.ScenarioQueueCircuitOpen.expr).toContain('sq_circuit_state');
    expect(alerts.ScenarioQueueBudgetNearLimit.expr).toContain('0.8 *');
    expect(alerts.ScenarioQueueStalledJobs.expr).toContain('sq_stalled_jobs_total');
    expect(alerts.ScenarioQueueBacklogGrowing.expr).toContain('deriv(');
    expect(alerts.ScenarioQueueNoLiveWorkers.expr).toContain('up{job="scenario-queue-worker"}');
    for (const alert of Object.values(alerts)) expect(alert.annotations).toMatchObject({ summary: expect.any(String), description: expect.any(String) });
  });
});
