import { spawn, spawnSync } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Redis } from 'ioredis';

/** True when a Redis answers PING at `url` within a second. */
export async function redisReachable(url: string): Promise<boolean> {
  const client = new Redis(url, { lazyConnect: true, connectTimeout: 1000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

/**
 * Makes sure the Redis at `url` answers. When none does and the URL is local, starts
 * `redis-server` from the PATH with its files under `dataDir/redis` (what a user running
 * `npm start` on a laptop expects); otherwise fails with one line saying how to start one.
 * Returns a stop function for a server it started.
 */
export async function ensureRedis(url: string, dataDir: string, log: (line: string) => void): Promise<() => void> {
  if (await redisReachable(url)) return () => undefined;
  const u = new URL(url);
  const local = ['127.0.0.1', 'localhost', '::1', '[::1]'].includes(u.hostname);
  const hasBinary = spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
  if (!local || !hasBinary) {
    throw new Error(
      `Redis is not reachable at ${url}: start one (\`redis-server --daemonize yes\`, or \`docker run -p 6379:6379 redis:7\`) or set REDIS_URL`,
    );
  }
  const dir = join(dataDir, 'redis');
  await mkdir(dir, { recursive: true });
  const port = u.port || '6379';
  const child = spawn('redis-server', ['--bind', '127.0.0.1', '--port', port, '--dir', dir, '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  for (let i = 0; i < 50; i++) {
    if (await redisReachable(url)) {
      log(`started redis-server (pid ${child.pid}) on 127.0.0.1:${port}, files under ${dir}`);
      return () => child.kill('SIGTERM');
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error(`started redis-server on port ${port} but it did not answer; see \`redis-server --port ${port}\` output`);
}
