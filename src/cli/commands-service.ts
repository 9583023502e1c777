import { Command } from 'commander';

// The service modules (fastify, prisma, bullmq) load only for these commands, so `train` and
// `query` start fast.

/** Keeps the process alive while starting (PGlite's start-up holds no handle), then closes on SIGTERM/SIGINT. */
async function runUntilSignal(start: () => Promise<{ close?: () => Promise<void>; stop?: () => Promise<void> }>): Promise<void> {
  const keepAlive = setInterval(() => undefined, 60_000);
  const running = await start();
  clearInterval(keepAlive);
  const { closeOnSignals } = await import('../infra/signals.js');
  const stop = running.close ?? running.stop ?? (async () => undefined);
  closeOnSignals(stop, (line) => console.error(line), 'distilxr');
}

/** One line when Redis is down at start; serve and worker then wait for it rather than exit. */
async function warnIfRedisDown(): Promise<void> {
  const { loadConfig } = await import('../infra/config.js');
  const { redisReachable } = await import('../infra/queue/ensure-redis.js');
  const { redisUrl } = loadConfig();
  if (!(await redisReachable(redisUrl))) {
    console.error(`distilxr: Redis is not reachable at ${redisUrl}: start one (\`redis-server --daemonize yes\`) or set REDIS_URL; waiting for it`);
  }
}

export function serviceCommands(): Command[] {
  const start = new Command('start')
    .description('API and a worker in one process on embedded defaults (PGlite under DATA_DIR, Redis from REDIS_URL)')
    .action(() => runUntilSignal(async () => (await import('./standalone.js')).startStandalone()));
  const serve = new Command('serve')
    .description('the HTTP API only (workers run separately: distilxr worker); needs DATABASE_URL (PostgreSQL)')
    .action(() =>
      runUntilSignal(async () => {
        const { loadConfig, requireSharedDatabase } = await import('../infra/config.js');
        requireSharedDatabase(loadConfig(), 'serve');
        await warnIfRedisDown();
        return (await import('../service/server.js')).startServer({ handleSignals: false });
      }),
    );
  const worker = new Command('worker').description('a worker process taking training jobs from the queue; needs DATABASE_URL (PostgreSQL)').action(() =>
      runUntilSignal(async () => {
        const { loadConfig, requireSharedDatabase } = await import('../infra/config.js');
        requireSharedDatabase(loadConfig(), 'worker'); // before waiting for Redis
        await warnIfRedisDown();
        return (await import('../worker/main.js')).runWorker();
      }),
    );
  const migrate = new Command('migrate').description('apply the database migrations (also done on every start)').action(async () => {
    const { loadConfig } = await import('../infra/config.js');
    const { openDatabase } = await import('../infra/db/db.js');
    const config = loadConfig();
    const db = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
    await db.close();
    process.stdout.write(`migrations applied (${db.kind} database)\n`);
  });
  return [start, serve, worker, migrate];
}
