import { createServer, type AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { toFailure } from '../../src/errors.ts';
import { llm } from '../../src/handlers/builtin/llm.ts';
import type { HandlerContext } from '../../src/handlers/types.ts';
import { fakeCompletionText, fakeTokenCount, startFakeLlm, type FakeLlm } from '../support/fake-llm.ts';
import { testContext as baseContext } from '../support/handler-context.ts';

const testContext = (over: Partial<HandlerContext> = {}) => baseContext({ stepId: 'plan', ...over });

/** A port nothing listens on: bind an ephemeral one, then release it. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function runLlm(raw: unknown, ctx = testContext()) {
  return llm.run(llm.input.parse(raw), ctx);
}

describe('llm handler', () => {
  let fake: FakeLlm;
  beforeAll(async () => {
    fake = await startFakeLlm();
  });
  afterAll(async () => {
    await fake.close();
  });
  beforeEach(() => fake.reset());
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('returns the completion text and token usage, and reports tokens, one call and the model', async () => {
    const ctx = testContext();
    const prompt = 'Plan a trip to Lisbon';
    const out = await runLlm({ baseUrl: fake.url, model: 'gpt-test', prompt, maxTokens: 200 }, ctx);
    const text = fakeCompletionText('gpt-test', [{ role: 'user', content: prompt }]);
    const usage = { input: fakeTokenCount(prompt), output: fakeTokenCount(text) };
    expect(out).toEqual({ text, usage });
    expect(ctx.usage).toEqual([{ tokens: usage, calls: 1, model: 'gpt-test' }]);
    expect(fake.requests[0].body).toEqual({ model: 'gpt-test', messages: [{ role: 'user', content: prompt }], max_tokens: 200 });
  });

  it('sends messages as given, with temperature', async () => {
    const messages = [
      { role: 'system', content: 'be brief' },
      { role: 'user', content: 'hi' },
    ];
    const out = await runLlm({ baseUrl: fake.url, model: 'm', messages, temperature: 0 });
    expect(out.text).toBe('[m] hi');
    expect(fake.requests[0].body).toEqual({ model: 'm', messages, temperature: 0 });
  });

  it('uses OPENAI_BASE_URL when the step gives no baseUrl', async () => {
    vi.stubEnv('OPENAI_BASE_URL', `${fake.url}/`);
    await runLlm({ model: 'm', prompt: 'x' });
    expect(fake.requests).toHaveLength(1);
  });

  it('sends the API key from ctx.secrets as a bearer token', async () => {
    await runLlm({ baseUrl: fake.url, model: 'm', prompt: 'x' }, testContext({ secrets: { OPENAI_API_KEY: 'sk-secret' } }));
    await runLlm({ baseUrl: fake.url, model: 'm', prompt: 'x', apiKeyCredential: 'OTHER_KEY' }, testContext({ secrets: { OTHER_KEY: 'sk-other' } }));
    expect(fake.requests.map((r) => r.authorization)).toEqual(['Bearer sk-secret', 'Bearer sk-other']);
  });

  it('never reads the API key from the environment', async () => {
    vi.stubEnv('OPENAI_API_KEY', 'sk-from-env');
    await runLlm({ baseUrl: fake.url, model: 'm', prompt: 'x' });
    expect(fake.requests[0].authorization).toBeUndefined();
  });

  it('classifies a 500 as a retryable server_error and still counts the call', async () => {
    fake.failNext(1, 500);
    const ctx = testContext();
    const err = await runLlm({ baseUrl: fake.url, model: 'm', prompt: 'x' }, ctx).catch((e: unknown) => e);
    expect(toFailure(err)).toMatchObject({
      kind: 'server_error',
      retryable: true,
      message: `HTTP 500 Internal Server Error from POST ${fake.url}/chat/completions`,
    });
    expect(ctx.usage).toEqual([{ calls: 1, model: 'm' }]);
  });

  it('classifies a 429 as rate_limited with Retry-After', async () => {
    fake.failNext(1, 429, 3);
    const err = await runLlm({ baseUrl: fake.url, model: 'm', prompt: 'x' }).catch((e: unknown) => e);
    expect(toFailure(err)).toMatchObject({ kind: 'rate_limited', retryable: true, retryAfterMs: 3000 });
  });

  it('classifies a 400 as a non-retryable client_error', async () => {
    fake.failNext(1, 400);
    const err = await runLlm({ baseUrl: fake.url, model: 'm', prompt: 'x' }).catch((e: unknown) => e);
    expect(toFailure(err)).toMatchObject({ kind: 'client_error', retryable: false });
  });

  it('fails with invalid_output when the response is not a chat completion', async () => {
    fake.malformedNext(1);
    const err = await runLlm({ baseUrl: fake.url, model: 'm', prompt: 'x' }).catch((e: unknown) => e);
    expect(toFailure(err)).toMatchObject({ kind: 'invalid_output', retryable: false });
    expect(toFailure(err).message).toContain(`unexpected chat completion response from POST ${fake.url}/chat/completions`);
  });

  it('leaves network errors to toFailure (kind network)', async () => {
    const err = await runLlm({ baseUrl: `http://127.0.0.1:${await closedPort()}/v1`, model: 'm', prompt: 'x' }).catch((e: unknown) => e);
    expect(toFailure(err).kind).toBe('network');
  });

  it('propagates the abort reason of the signal', async () => {
    const reason = new Error('run cancelled (test)');
    const err = await runLlm({ baseUrl: fake.url, model: 'm', prompt: 'x' }, testContext({ signal: AbortSignal.abort(reason) })).catch(
      (e: unknown) => e,
    );
    expect(err).toBe(reason);
  });

  it('requires exactly one of prompt or messages', () => {
    expect(() => llm.input.parse({ model: 'm' })).toThrow('give exactly one of prompt or messages');
    expect(() => llm.input.parse({ model: 'm', prompt: 'a', messages: [{ role: 'user', content: 'b' }] })).toThrow(
      'give exactly one of prompt or messages',
    );
  });

  it('estimates maxTokens (default 1024) and one call', () => {
    expect(llm.estimate?.(llm.input.parse({ model: 'm', prompt: 'x', maxTokens: 50 }))).toEqual({ tokens: 50, calls: 1 });
    expect(llm.estimate?.(llm.input.parse({ model: 'm', prompt: 'x' }))).toEqual({ tokens: 1024, calls: 1 });
  });

  it('returns the mock output without calling the model when mocked', async () => {
    const ctx = testContext({ mock: true, mockOutput: { output: { text: 'canned', usage: { input: 0, output: 0 } } } });
    expect(await runLlm({ baseUrl: fake.url, model: 'm', prompt: 'x' }, ctx)).toEqual({ text: 'canned', usage: { input: 0, output: 0 } });
    expect(fake.requests).toHaveLength(0);
  });
});
