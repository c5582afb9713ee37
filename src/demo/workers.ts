import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../bin/scenario-queue.js', import.meta.url));

export interface DemoWorker {
  child: ChildProcess;
  stop(): Promise<void>;
}

/** Starts `scenario-queue worker` as a real child process; resolves once it logs "worker ready". */
export function startDemoWorker(env: Record<string, string>, logFile: string): Promise<DemoWorker> {
  const child = spawn(process.execPath, [CLI, 'worker', '--concurrency', '4'], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log = createWriteStream(logFile, { flags: 'a' });
  child.stderr?.pipe(log);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`worker did not start within 30s; see ${logFile}`)), 30_000);
    child.once('exit', (code) => reject(new Error(`worker exited with code ${code}; see ${logFile}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      log.write(`${line}\n`);
      if (line.includes('"worker ready"')) {
        clearTimeout(timer);
        resolve({
          child,
          stop: () =>
            new Promise<void>((done) => {
              if (child.exitCode !== null) return done();
              child.once('exit', () => done());
              child.kill('SIGTERM');
            }),
        });
      }
    });
  });
}
