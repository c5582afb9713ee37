import type { FastifyError, FastifyInstance } from 'fastify';
import type { z } from 'zod';
import { formatPath, type ValidationIssue } from '../scenario/errors.ts';

/** An error the API answers with its own status and JSON body. */
export class HttpError extends Error {
  readonly statusCode: number;
  readonly body: Record<string, unknown>;
  constructor(statusCode: number, message: string, extra: Record<string, unknown> = {}) {
    super(message);
    this.name = 'HttpError';
    this.statusCode = statusCode;
    this.body = { error: message, ...extra };
  }
}

/** 400 listing every issue with its field path (`input.user`, `scenario.steps[0].uses`). */
export function invalid(what: string, issues: readonly ValidationIssue[]): HttpError {
  return new HttpError(400, `invalid ${what}`, { issues });
}

/** Parses `value` with a zod schema at the edge; 400 naming each field on failure. */
export function parseWith<T>(schema: z.ZodType<T>, value: unknown, what: string, pathPrefix = ''): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const at = (path: readonly PropertyKey[]) => [pathPrefix, formatPath(path)].filter(Boolean).join('.') || '(root)';
  throw invalid(
    what,
    parsed.error.issues.flatMap((i) =>
      i.code === 'unrecognized_keys' ? i.keys.map((key) => ({ path: at([...i.path, key]), message: 'unknown field' })) : [{ path: at(i.path), message: i.message }],
    ),
  );
}

/** JSON errors for everything: 404 for unknown routes, 413 over the body cap, never a stack. */
export function installErrorHandlers(app: FastifyInstance, bodyLimitBytes: number): void {
  app.setNotFoundHandler((request, reply) => {
    void reply.code(404).send({ error: 'not found', method: request.method, path: request.url.split('?')[0] });
  });
  app.setErrorHandler((error: FastifyError | HttpError, request, reply) => {
    if (error instanceof HttpError) return reply.code(error.statusCode).send(error.body);
    const code = (error as FastifyError).code;
    if (code === 'FST_ERR_CTP_BODY_TOO_LARGE' || error.statusCode === 413) {
      return reply.code(413).send({ error: 'request body too large', limitBytes: bodyLimitBytes });
    }
    if (code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return reply.code(415).send({ error: 'unsupported content type: send application/json' });
    if (code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || code === 'FST_ERR_CTP_INVALID_JSON_BODY' || error instanceof SyntaxError) {
      return reply.code(400).send({ error: 'request body is not valid JSON' });
    }
    if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
      return reply.code(error.statusCode).send({ error: 'bad request' });
    }
    request.log.error({ err: error }, 'request failed');
    return reply.code(500).send({ error: 'internal error' });
  });
}
