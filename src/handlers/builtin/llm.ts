import { z } from 'zod';
import { DeterministicError } from '../../errors.ts';
import { defineHandler } from '../define.ts';
import { mockedResult } from '../mock.ts';
import { readBody, statusError } from '../http-response.ts';

/** Used when neither `baseUrl` nor `OPENAI_BASE_URL` is set. */
export const DEFAULT_LLM_BASE_URL = 'https://api.openai.com/v1';

/** Tokens reserved by `estimate` when the step gives no `maxTokens`. */
const DEFAULT_ESTIMATE_TOKENS = 1024;

const Message = z.object({
  role: z.enum(['system', 'user', 'assistant', 'developer', 'tool']),
  content: z.string(),
});

const LlmInput = z
  .object({
    model: z.string().min(1),
    prompt: z.string().optional(),
    messages: z.array(Message).min(1).optional(),
    maxTokens: z.number().int().positive().optional(),
    temperature: z.number().min(0).max(2).optional(),
    apiKeyCredential: z.string().min(1).default('OPENAI_API_KEY'),
    baseUrl: z.url({ protocol: /^https?$/ }).optional(),
  })
  .refine((i) => (i.prompt === undefined) !== (i.messages === undefined), {
    message: 'give exactly one of prompt or messages',
    path: ['prompt'],
  });

export type LlmInput = z.infer<typeof LlmInput>;

/** What the `llm` handler returns. */
export interface LlmOutput {
  text: string;
  usage: { input: number; output: number };
}

/** The part of an OpenAI-compatible chat completion response we rely on. */
const ChatCompletion = z.object({
  choices: z
    .array(z.object({ message: z.object({ content: z.string().nullable().optional() }) }))
    .min(1),
  usage: z
    .object({ prompt_tokens: z.number().nonnegative(), completion_tokens: z.number().nonnegative() })
    .optional(),
});

/**
 * `llm`: one OpenAI-compatible chat completion. The API key comes only from
 * `ctx.secrets` (the step's declared credentials), never from the worker's environment
 * directly, so a step cannot use a key it did not declare.
 */
export const llm = defineHandler({
  name: 'llm',
  input: LlmInput,
  estimate: (input) => ({ tokens: input.maxTokens ?? DEFAULT_ESTIMATE_TOKENS, calls: 1 }),
  run: async (input, ctx): Promise<LlmOutput> => {
    const mocked = mockedResult(ctx, 'llm');
    if (mocked) return mocked.output as LlmOutput;

    const baseUrl = input.baseUrl ?? process.env.OPENAI_BASE_URL ?? DEFAULT_LLM_BASE_URL;
    const url = `${baseUrl.replace(/\/+$/, '')}/chat/completions`;
    const headers = new Headers({ 'content-type': 'application/json' });
    const apiKey = ctx.secrets[input.apiKeyCredential];
    if (apiKey) headers.set('authorization', `Bearer ${apiKey}`);
    const request = {
      model: input.model,
      messages: input.messages ?? [{ role: 'user', content: input.prompt }],
      ...(input.maxTokens === undefined ? {} : { max_tokens: input.maxTokens }),
      ...(input.temperature === undefined ? {} : { temperature: input.temperature }),
    };

    // Exactly one report per attempt, also when the call fails: it still hit the service.
    let usage: LlmOutput['usage'] | undefined;
    try {
      const completion = await complete(url, headers, request, ctx.signal);
      if (!completion.usage) ctx.log.warn({ url, model: input.model }, 'chat completion without usage; tokens counted as 0');
      usage = { input: completion.usage?.prompt_tokens ?? 0, output: completion.usage?.completion_tokens ?? 0 };
      return { text: completion.choices[0].message.content ?? '', usage };
    } finally {
      ctx.reportUsage({ calls: 1, model: input.model, ...(usage ? { tokens: usage } : {}) });
    }
  },
});

/** POSTs the request and returns the validated completion; failing statuses throw HttpStatusError. */
async function complete(url: string, headers: Headers, request: object, signal: AbortSignal): Promise<z.infer<typeof ChatCompletion>> {
  const res = await fetch(url, { method: 'POST', headers, body: JSON.stringify(request), signal });
  const read = await readBody(res);
  if (!res.ok) throw statusError(res, 'POST', url, read);
  const parsed = ChatCompletion.safeParse(read.value);
  if (!parsed.success) {
    throw new DeterministicError(`unexpected chat completion response from POST ${url}: ${z.prettifyError(parsed.error)}`, {
      kind: 'invalid_output',
      details: { body: read.text.slice(0, 2048) },
    });
  }
  return parsed.data;
}
