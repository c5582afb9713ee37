/**
 * A local OpenAI-compatible chat completions endpoint for tests and the demo (no vitest
 * imports). Replies are deterministic: the text and token counts depend only on the
 * request, so assertions and budget tests can use exact numbers.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

interface ChatMessage {
  role: string;
  content: string;
}

/** One request the fake received. */
export interface FakeLlmRequest {
  /** The raw `Authorization` header, to check which secret a step used. */
  readonly authorization: string | undefined;
  readonly body: { model?: string; messages?: ChatMessage[]; max_tokens?: number; temperature?: number };
}

export interface FakeLlm {
  /** Base URL to use as `baseUrl` / `OPENAI_BASE_URL`, e.g. `http://127.0.0.1:40123/v1`. */
  readonly url: string;
  readonly requests: readonly FakeLlmRequest[];
  /** The next `count` completions fail with `status` (429 sends `Retry-After: retryAfterSeconds`). */
  failNext(count: number, status?: number, retryAfterSeconds?: number): void;
  /** The next `count` completions answer 200 with JSON that is not a chat completion. */
  malformedNext(count: number): void;
  reset(): void;
  close(): Promise<void>;
}

/** The completion text the fake returns for a request: exposed so tests can expect it. */
export function fakeCompletionText(model: string, messages: readonly ChatMessage[]): string {
  const last = messages.at(-1)?.content ?? '';
  return `[${model}] ${last}`;
}

/** The fake's token count for a text: one token per 4 characters, at least 1. */
export function fakeTokenCount(text: string): number {
  return Math.max(1, Math.ceil(text.length / 4));
}

/** Starts the fake on 127.0.0.1 with an ephemeral port; it serves `…/chat/completions` under any prefix. */
export async function startFakeLlm(): Promise<FakeLlm> {
  const requests: FakeLlmRequest[] = [];
  let failures = { remaining: 0, status: 500, retryAfterSeconds: 1 };
  let malformed = 0;

  const server = createServer((req, res) => {
    void readJson(req).then((body) => {
      if (req.method !== 'POST' || !(req.url ?? '').split('?')[0].endsWith('/chat/completions')) {
        return sendJson(res, 404, { error: { message: `no route ${req.method} ${req.url}` } });
      }
      const request: FakeLlmRequest = { authorization: req.headers.authorization, body: (body ?? {}) as FakeLlmRequest['body'] };
      requests.push(request);
      if (failures.remaining > 0) {
        failures.remaining--;
        const headers: Record<string, string> = failures.status === 429 ? { 'retry-after': String(failures.retryAfterSeconds) } : {};
        return sendJson(res, failures.status, { error: { message: `fake failure ${failures.status}` } }, headers);
      }
      if (malformed > 0) {
        malformed--;
        return sendJson(res, 200, { unexpected: true });
      }
      const messages = request.body.messages ?? [];
      if (!request.body.model || messages.length === 0) {
        return sendJson(res, 400, { error: { message: 'model and messages are required' } });
      }
      sendJson(res, 200, completion(request.body.model, messages, request.body.max_tokens));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    failNext(count, status = 500, retryAfterSeconds = 1) {
      failures = { remaining: count, status, retryAfterSeconds };
    },
    malformedNext(count) {
      malformed = count;
    },
    reset() {
      requests.length = 0;
      failures = { remaining: 0, status: 500, retryAfterSeconds: 1 };
      malformed = 0;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}

function completion(model: string, messages: ChatMessage[], maxTokens: number | undefined): unknown {
  const text = fakeCompletionText(model, messages);
  const promptTokens = fakeTokenCount(messages.map((m) => m.content).join('\n'));
  const completionTokens = Math.min(fakeTokenCount(text), maxTokens ?? Infinity);
  return {
    id: 'chatcmpl-fake',
    object: 'chat.completion',
    created: 0,
    model,
    choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }],
    usage: { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens },
  };
}

function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(value));
}

function readJson(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown);
      } catch {
        resolve(undefined);
      }
    });
    req.on('error', () => resolve(undefined));
  });
}
