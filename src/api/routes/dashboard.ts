import { readFileSync, readdirSync } from 'node:fs';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import { SESSION_COOKIE, type Auth } from '../auth.ts';
import { HttpError, parseWith } from '../http-errors.ts';

const DASHBOARD_DIR = fileURLToPath(new URL('../dashboard/', import.meta.url));
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};
/** Our pages load nothing from elsewhere and run no inline code. */
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

const LoginBody = z.strictObject({ token: z.string().min(1).max(4096) });

/** The dashboard's files, read once: plain HTML, CSS and JS, no build step. */
function loadFiles(): Map<string, { body: Buffer; type: string }> {
  const files = new Map<string, { body: Buffer; type: string }>();
  for (const name of readdirSync(DASHBOARD_DIR)) {
    const type = TYPES[extname(name)];
    if (type) files.set(name, { body: readFileSync(DASHBOARD_DIR + name), type });
  }
  return files;
}

export interface DashboardRoutesOptions {
  readonly auth: Auth;
}

/** `/` (the dashboard), `/login`, `/logout` and `/assets/*`. */
export function registerDashboardRoutes(app: FastifyInstance, options: DashboardRoutesOptions): void {
  const files = loadFiles();
  const send = (reply: FastifyReply, name: string) => {
    const file = files.get(name);
    if (!file) throw new HttpError(404, 'not found');
    return reply.type(file.type).header('content-security-policy', CSP).header('x-content-type-options', 'nosniff').header('cache-control', 'no-cache').send(file.body);
  };

  // Form posts from the login page when JavaScript is off.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });

  app.get('/', async (_request, reply) => send(reply, 'index.html'));
  app.get('/login', { config: { public: true } }, async (_request, reply) => send(reply, 'login.html'));
  app.get('/assets/:name', { config: { public: true } }, async (request, reply) => {
    const { name } = request.params as { name: string };
    if (name.endsWith('.html')) throw new HttpError(404, 'not found');
    return send(reply, name);
  });

  app.post('/login', { config: { public: true } }, async (request, reply) => {
    const form = request.headers['content-type']?.startsWith('application/x-www-form-urlencoded') ?? false;
    const { token } = parseWith(LoginBody, request.body, 'request body');
    if (!options.auth.tokenMatches(token)) {
      if (form) return reply.redirect('/login?failed=1', 303);
      throw new HttpError(401, 'wrong token');
    }
    const secure = request.protocol === 'https' ? '; Secure' : '';
    const cookie = `${SESSION_COOKIE}=${options.auth.newSession()}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${Math.floor(options.auth.ttlMs / 1000)}${secure}`;
    reply.header('set-cookie', cookie);
    return form ? reply.redirect('/', 303) : reply.code(204).send();
  });

  app.post('/logout', { config: { public: true } }, async (_request, reply) => {
    reply.header('set-cookie', `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0`);
    return reply.code(204).send();
  });
}
