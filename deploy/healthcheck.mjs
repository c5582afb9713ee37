// Container HEALTHCHECK (deploy/Dockerfile): GET /healthz of whatever this container serves.
// A worker serves it on SQ_METRICS_PORT, the api on SQ_API_PORT. Plain JavaScript, so it
// starts in milliseconds without tsx.
import { readFileSync } from 'node:fs';

const role = (() => {
  try {
    // PID 1 is `node /app/bin/scenario-queue.js <command> …`.
    return readFileSync('/proc/1/cmdline', 'utf8').split('\0')[2] ?? '';
  } catch {
    return '';
  }
})();
const port = role === 'api' ? process.env.SQ_API_PORT || '8080' : process.env.SQ_METRICS_PORT;
// A worker without a metrics port has no HTTP endpoint; its liveness is its heartbeat in Redis.
if (!port) process.exit(0);

try {
  const res = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(2500) });
  process.exit(res.ok ? 0 : 1);
} catch {
  process.exit(1);
}
