import { z } from 'zod';
import { defineHandler } from '../define.ts';
import { mockedResult } from '../mock.ts';
import { readBody, statusError } from '../http-response.ts';

const StatusCode = z.number().int().min(100).max(599);

const HttpInput = z
  .object({
    method: z
      .string()
      .regex(/^[A-Za-z]+$/, 'method must be an HTTP method name')
      .default('GET')
      .transform((m) => m.toUpperCase()),
    url: z.url({ protocol: /^https?$/ }),
    // YAML turns `x-count: 5` into a number; header values are strings on the wire anyway.
    headers: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]).transform(String)).default({}),
    json: z.unknown().optional(),
    body: z.string().optional(),
    expectStatus: z.union([StatusCode, z.array(StatusCode).min(1)]).optional(),
  })
  .refine((i) => i.json === undefined || i.body === undefined, {
    message: 'give either json or body, not both',
    path: ['body'],
  });

export type HttpInput = z.infer<typeof HttpInput>;

/** What the `http` handler returns; `body` is parsed for JSON content types, text otherwise. */
export interface HttpOutput {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

/**
 * `http`: one fetch with the attempt's signal. An unexpected status throws HttpStatusError
 * (classified by status); network errors propagate untouched so `toFailure` sees the
 * undici cause chain and classifies them as `network`.
 */
export const http = defineHandler({
  name: 'http',
  input: HttpInput,
  estimate: () => ({ calls: 1 }),
  run: async (input, ctx): Promise<HttpOutput> => {
    const mocked = mockedResult(ctx, 'http');
    if (mocked) return mocked.output as HttpOutput;

    const headers = new Headers(input.headers);
    let body: string | undefined = input.body;
    if (input.json !== undefined) {
      body = JSON.stringify(input.json);
      if (!headers.has('content-type')) headers.set('content-type', 'application/json');
    }
    // Counted before the request: a call that fails or hangs still hit the service.
    ctx.reportUsage({ calls: 1 });
    const res = await fetch(input.url, { method: input.method, headers, body, signal: ctx.signal });
    const read = await readBody(res);
    if (!isExpected(res.status, input.expectStatus)) throw statusError(res, input.method, input.url, read);
    return { status: res.status, headers: Object.fromEntries(res.headers), body: read.value };
  },
});

function isExpected(status: number, expect: number | number[] | undefined): boolean {
  if (expect === undefined) return status >= 200 && status < 300;
  return Array.isArray(expect) ? expect.includes(status) : status === expect;
}
