/**
 * A `distilxr worker` child process (src/worker/main.ts under tsx) for crash tests: its output
 * is kept for failure messages, and it can be SIGKILLed like a crashed machine.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { hostname } from 'node:os';
import { fileURLToPath } from 'node:url';
import { waitFor } from './jobs.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface WorkerChild {
  child: ChildProcess;
  /** How the worker names itself in `running` status events. */
  name: string;
  /** Everything it printed so far (stdout and stderr). */
  output(): string;
  /** Resolves once it says it is ready. */
  ready(timeoutMs?: number): Promise<void>;
  /** SIGKILL, resolved once the process is gone. */
  kill(): Promise<void>;
  /** SIGTERM (graceful), resolved with the exit code. */
  stop(): Promise<number | null>;
}

/**
 * Starts a worker; `env` adds to (and overrides) this process's environment. `entry`: the module
 * to run, src/worker/main.ts or a test worker that injects a fault hook (sigkill-worker.ts).
 */
export function spawnWorker(env: Record<string, string>, entry = 'src/worker/main.ts'): WorkerChild {
  let out = '';
  const child = spawn(process.execPath, ['--import', 'tsx', entry], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const alive = (): boolean => child.exitCode === null && child.signalCode === null;
  return {
    child,
    name: `${hostname()}:${child.pid}`,
    output: () => out,
    ready: async (timeoutMs = 40_000) => {
      await waitFor(
        `worker ${child.pid} to be ready`,
        async () => {
          if (!alive()) throw new Error(`worker ${child.pid} exited before it was ready:\n${out}`);
          return /: ready/.test(out);
        },
        timeoutMs,
      );
    },
    kill: async () => {
      if (alive()) child.kill('SIGKILL');
      await exited;
    },
    stop: async () => {
      if (alive()) child.kill('SIGTERM');
      return exited;
    },
  };
}
