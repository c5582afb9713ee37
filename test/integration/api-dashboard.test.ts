import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '../../src/client.ts';
import { ServicesConfig } from '../../src/guardrails/services-schema.ts';
import { applyServices } from '../../src/guardrails/services-store.ts';
import { useTestRedis } from '../support/context.ts';
import { startApi, type ApiProcess } from '../support/api.ts';
import { startWorker, stopAllWorkers } from '../support/workers.ts';

const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
const t = useTestRedis('api-dashboard', { scope: 'file' });
const TOKEN = `sq-token-${randomBytes(16).toString('hex')}`;
const HANDLERS = 'test/fixtures/metrics/handlers.ts';
const SCREENSHOTS = 'test-results';

// A retry (bill), a live step long enough to watch (slow), a failure (check) that skips its
// dependent (after), and an attempt timeout (stuck).
const scenario = {
  name: 'dashboard-journey',
  defaults: { retry: { attempts: 2, backoff: { type: 'fixed', delayMs: 150, jitter: 'none' } } },
  budget: { usd: 1, calls: 10, onExceed: 'warn' },
  steps: [
    { id: 'bill', uses: 'spend', service: 'openai', with: { usd: 0.125, input: 120, output: 30, failTimes: 1, sleepMs: 200 } },
    { id: 'slow', uses: 'sleep', needs: ['bill'], with: { ms: 2500 } },
    { id: 'check', uses: 'fault', needs: ['slow'], with: { kind: 'assertion', message: 'cart total is 0' } },
    { id: 'after', uses: 'noop', needs: ['check'] },
    { id: 'stuck', uses: 'sleep', timeoutMs: 400, retry: { attempts: 1 }, with: { ms: 10_000 } },
  ],
};

let api: ApiProcess;
let browser: Browser | undefined;

beforeAll(async () => {
  const client = await createClient({ redisUrl: t.url, prefix: t.prefix });
  const services = ServicesConfig.parse({ services: { openai: { circuitBreaker: { failureThreshold: 5, windowMs: 60_000, resetTimeoutMs: 30_000 } } } });
  await applyServices(client.redis, client.keys, services).finally(() => client.close());
  await startWorker({ redisUrl: t.url, prefix: t.prefix, concurrency: 4, handlers: HANDLERS });
  api = await startApi({ redisUrl: t.url, prefix: t.prefix, token: TOKEN, args: ['--handlers', HANDLERS] });
  mkdirSync(SCREENSHOTS, { recursive: true });
});

afterAll(async () => {
  await browser?.close();
  await api?.stop();
  await stopAllWorkers();
});

describe.skipIf(!hasChromium && !process.env.CI)('dashboard in headless Chromium', () => {
  it('logs in, follows a run live and shows retries, failure, skip and timeout on the timeline', async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    // Without a session the dashboard sends the browser to the login page.
    await page.goto(`${api.url}/`);
    await page.waitForURL(/\/login$/);
    await page.fill('#token', TOKEN);
    await Promise.all([page.waitForURL(`${api.url}/`), page.click('button[type=submit]')]);
    await page.waitForSelector('table.runs');
    const consoleErrors: string[] = [];
    page.on('console', (msg) => {
      if (msg.type() === 'error') consoleErrors.push(msg.text());
    });
    page.on('pageerror', (error) => consoleErrors.push(error.message));

    const created = await fetch(`${api.url}/runs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ scenario }),
    });
    expect(created.status).toBe(201);
    const { runId } = (await created.json()) as { runId: string };

    await page.goto(`${api.url}/#/runs/${runId}`);
    const timeline = page.locator(`.timeline[data-run="${runId}"]`);
    // Opened while the run is still going...
    await expect.poll(() => timeline.getAttribute('data-run-status'), { timeout: 15_000 }).toBe('running');
    await expect.poll(() => page.locator('.step-row[data-step="slow"]').getAttribute('data-status'), { timeout: 15_000 }).toBe('running');
    // ...and the SSE stream brings the verdict without a reload.
    await expect.poll(() => timeline.getAttribute('data-run-status'), { timeout: 30_000 }).toBe('failed');
    await expect.poll(() => page.locator('#live-state').textContent(), { timeout: 10_000 }).toBe('ended');

    const row = (id: string) => page.locator(`.step-row[data-step="${id}"]`);
    const bar = (id: string, n: number) => row(id).locator(`.attempt[data-attempt="${n}"]`);
    expect(await row('bill').getAttribute('data-status')).toBe('succeeded');
    expect(await bar('bill', 1).getAttribute('data-outcome')).toBe('retry');
    expect(await bar('bill', 1).getAttribute('data-kind')).toBe('server_error');
    expect(await bar('bill', 1).textContent()).toBe('#1 server_error');
    expect(await bar('bill', 2).getAttribute('data-outcome')).toBe('succeeded');
    expect(await row('bill').locator('.delay').count()).toBe(1);
    expect(await row('check').getAttribute('data-status')).toBe('failed');
    expect(await bar('check', 1).getAttribute('data-outcome')).toBe('failed');
    expect(await bar('check', 1).getAttribute('data-kind')).toBe('assertion');
    expect(await row('after').getAttribute('data-status')).toBe('skipped');
    expect(await row('after').locator('.attempt').count()).toBe(0);
    expect(await row('after').locator('.note').textContent()).toBe('skipped (upstream failed)');
    expect(await row('stuck').getAttribute('data-status')).toBe('timed_out');
    expect(await bar('stuck', 1).getAttribute('data-outcome')).toBe('timed_out');
    // Distinct looks: a skipped row is hatched and has no bar; a timeout bar is striped, a failure solid.
    const background = (locator: ReturnType<typeof bar>) => locator.evaluate((el) => getComputedStyle(el).backgroundImage + getComputedStyle(el).backgroundColor);
    // Polled: a late SSE event re-renders the rows, and a detached element's style reads ''.
    await expect.poll(() => background(bar('stuck', 1)), { timeout: 5_000 }).toContain('repeating-linear-gradient');
    await expect.poll(() => background(bar('check', 1)), { timeout: 5_000 }).toMatch(/^none/);
    await expect.poll(() => row('after').locator('.track').evaluate((el) => getComputedStyle(el).backgroundImage), { timeout: 5_000 }).toContain('repeating-linear-gradient');

    // Attempt errors, cost by step and service, and the run budget.
    await expect.poll(() => page.locator('table.errors').textContent(), { timeout: 5_000 }).toContain('cart total is 0');
    const costs = await page.locator('table.cost').allTextContents();
    expect(costs.join(' ')).toContain('openai');
    expect(costs.join(' ')).toContain('$0.2500');
    expect(await page.locator('.budget[data-resource="usd"]').textContent()).toContain('$0.2500 of $1.00');
    // Circuit state and spend of the service, from the guardrails.
    const service = page.locator('.service[data-service="openai"]');
    // The panel re-renders asynchronously once the run ends; an earlier render may still show the call in flight.
    await expect.poll(() => service.textContent(), { timeout: 5_000 }).toContain('spent $0.2500');
    expect(await service.locator('[data-circuit]').getAttribute('data-circuit')).toBe('closed');
    await page.screenshot({ path: `${SCREENSHOTS}/dashboard-run.png`, fullPage: true });

    // The runs list shows the run with its status, duration and cost; the filter narrows it.
    await page.goto(`${api.url}/#/`);
    const listed = page.locator(`tr[data-run="${runId}"]`);
    await listed.waitFor();
    expect(await listed.locator('.badge').textContent()).toBe('failed');
    expect(await listed.textContent()).toContain('$0.2500');
    await page.screenshot({ path: `${SCREENSHOTS}/dashboard-runs.png`, fullPage: true });
    await page.selectOption('select[name=status]', 'succeeded');
    await expect.poll(() => listed.count(), { timeout: 5_000 }).toBe(0);

    expect(await page.content()).not.toContain(TOKEN);
    expect(consoleErrors).toEqual([]);
  });
});
