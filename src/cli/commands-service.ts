import { Command } from 'commander';

// The service modules (fastify, prisma, bullmq) load only for these commands, so `train` and
// `query` start fast.

/** Keeps the process alive while starting (PGlite's start-up holds no handle), then closes on SIGTERM/SIGINT. */
async function runUntilSignal(start: () => Promise<{ close?: () => Promise<void>; stop?: () => Promise<void> }>): Promise<void> {
  const keepAlive = setInterval(() => undefined, 60_000);
  const { startClosingOnSignals } = await import('../infra/signals.js');
  const close = async (running: Awaited<ReturnType<typeof start>>): Promise<void> => (running.close ?? running.stop ?? (async () => undefined))();
  try {
    await startClosingOnSignals(start, close, (line) => console.error(line), 'distilxr');
  } finally {
    clearInterval(keepAlive);
  }
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

/** A URL without its password. */
function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(not a URL)';
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
  const env = new Command('env')
    .description('the environment variables serve, worker and start read: what each accepts, its default and meaning; --check validates this environment')
    .option('--check', 'parse this environment as serve and worker would, print the resulting configuration as JSON (exit 2 naming a bad variable)')
    .action(async (opts: { check?: boolean }) => {
      if (opts.check) {
        const { loadConfig } = await import('../infra/config.js');
        const { apiKeys, databaseUrl, ...config } = loadConfig();
        // keys and the database URL's password stay out of the output
        process.stdout.write(`${JSON.stringify({ ...config, databaseUrl: databaseUrl === null ? null : redactUrl(databaseUrl), apiKeys: apiKeys.length }, null, 2)}\n`);
        return;
      }
      const { serviceEnvTable } = await import('../infra/service-settings.js');
      process.stdout.write(serviceEnvTable());
    });
  return [start, serve, worker, migrate, env];
}
