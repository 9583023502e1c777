/**
 * A private redis-server for fault tests: its own free port, nothing kept on disk (`--save ''
 * --appendonly no`, like the deployment this project assumes), so a test can restart or FLUSHALL
 * it without touching the shared Redis on 6379 that other tests use.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { redisReachable } from '../../src/infra/queue/ensure-redis.js';
import { freePort } from './ports.js';

/** Why a private redis-server cannot be started here, or null when it can. */
export function redisServerUnavailable(): string | null {
  return spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0 ? null : 'no redis-server on the PATH (apt-get install redis-server)';
}

export interface RedisServer {
  port: number;
  /** redis://127.0.0.1:<port> */
  url: string;
  /** SIGKILLs the server (a crash: nothing is saved, and there is nothing on disk anyway). */
  kill(): Promise<void>;
  /** Starts it again on the same port: empty. */
  start(): Promise<void>;
  /** FLUSHALL on the running server. */
  flushAll(): Promise<void>;
  /** Stops it for good and removes its directory. */
  close(): Promise<void>;
}

export async function startRedisServer(): Promise<RedisServer> {
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  const dir = await mkdtemp(join(tmpdir(), 'distilxr-redis-'));
  let child: ChildProcess | null = null;

  const start = async (): Promise<void> => {
    if (child) throw new Error(`redis-server on port ${port} is already running`);
    let out = '';
    const c = spawn('redis-server', ['--bind', '127.0.0.1', '--port', String(port), '--dir', dir, '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
    c.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    c.stderr!.on('data', (b: Buffer) => (out += b.toString()));
    child = c;
    for (let i = 0; i < 100; i++) {
      if (await redisReachable(url)) return;
      if (c.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    c.kill('SIGKILL');
    child = null;
    throw new Error(`redis-server on port ${port} did not answer:\n${out}`);
  };

  const kill = async (): Promise<void> => {
    const c = child;
    if (!c) return;
    child = null;
    if (c.exitCode === null && c.signalCode === null) {
      const exited = new Promise((r) => c.once('exit', r));
      c.kill('SIGKILL');
      await exited;
    }
  };

  await start();
  return {
    port,
    url,
    kill,
    start,
    flushAll: async () => {
      const client = new Redis(url, { maxRetriesPerRequest: 1 });
      try {
        await client.flushall();
      } finally {
        client.disconnect();
      }
    },
    close: async () => {
      await kill();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
