import { z } from 'zod';
import { DEFAULT_LOCK_DURATION_MS, DEFAULT_STALLED_INTERVAL_MS } from './worker/shutdown.ts';

/** Raised for a bad environment variable; the CLI prints it and exits 2. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

const int = () => z.coerce.number({ error: 'must be a whole number' }).int('must be a whole number');
const ms = (fallback: number) => int().nonnegative().default(fallback);

/** Environment of SPEC §18, validated once at start. */
export const EnvSchema = z.object({
  REDIS_URL: z
    .string()
    .regex(/^rediss?(\+cluster)?:\/\//, 'must be a redis://, rediss:// or redis+cluster://host:port,host:port URL')
    .default('redis://127.0.0.1:6379'),
  SQ_PREFIX: z
    .string()
    .regex(/^(\{[A-Za-z0-9_-]+\}|[A-Za-z0-9_-]+)$/, 'must be letters, digits, _ or - (optionally in {braces} for Redis Cluster)')
    .default('sq'),
  SQ_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  SQ_CONCURRENCY: int().min(1).max(1000).default(8),
  SQ_HANDLERS: z.string().optional(),
  SQ_METRICS_PORT: int().min(0).max(65535).optional(),
  SQ_API_PORT: int().min(0).max(65535).default(8080),
  SQ_API_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  SQ_SHUTDOWN_GRACE_MS: ms(30_000),
  SQ_LOCK_DURATION_MS: int().min(1000).default(DEFAULT_LOCK_DURATION_MS),
  SQ_STALLED_INTERVAL_MS: int().min(500).default(DEFAULT_STALLED_INTERVAL_MS),
  SQ_RECOVERY_INTERVAL_MS: int().min(1000).default(60_000),
  SQ_RECOVERY_MAX_AGE_MS: int().min(1000).default(24 * 3_600_000),
  SQ_ARTIFACT_DIR: z.string().optional(),
}).superRefine((env, ctx) => {
  // On a cluster every script and BullMQ command spans several keys: they must share one slot.
  if (/^rediss?\+cluster:/.test(env.REDIS_URL) && !env.SQ_PREFIX.startsWith('{')) {
    ctx.addIssue({ code: 'custom', path: ['SQ_PREFIX'], message: `must be hash-tagged when REDIS_URL is a redis+cluster:// URL, e.g. {${env.SQ_PREFIX}}` });
  }
});
export type Env = z.infer<typeof EnvSchema>;

/** Parses the environment; the error names every bad variable. */
export function loadEnv(env: NodeJS.ProcessEnv = process.env): Env {
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = EnvSchema.safeParse(present);
  if (parsed.success) return parsed.data;
  const lines = parsed.error.issues.map((i) => `${i.path.join('.')}=${JSON.stringify(env[String(i.path[0])] ?? '')}: ${i.message}`);
  throw new ConfigError(`invalid environment:\n  ${lines.join('\n  ')}`);
}
