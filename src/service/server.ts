/**
 * The one place that listens: opens the database, the artifact store and the queue, builds the
 * app and serves it until SIGTERM/SIGINT, then closes in order (stop accepting, end event
 * streams, finish in-flight requests, then queue and database). A second signal exits at once.
 * Configured by environment (infra/service-settings.ts, `distilxr env`).
 * Runs directly too: `node --import tsx src/service/server.ts`.
 */
import type { FastifyInstance } from 'fastify';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildApp } from './app.js';
import { BullJobQueue, redisConnectionFromUrl } from '../infra/queue/bull-job-queue.js';
import { loadConfig, requireSharedDatabase, type ServiceConfig } from '../infra/config.js';
import { closeOnSignals } from '../infra/signals.js';
import { queuePrefix } from '../infra/queue/queue-prefix.js';
import { openStorage, type Storage } from '../infra/storage.js';

export interface StartServerOptions {
  /** @defaultValue loadConfig(process.env) */
  config?: ServiceConfig;
  /** @defaultValue true */
  logger?: boolean | object;
  /** Install SIGTERM/SIGINT handlers that close and exit. @defaultValue true */
  handleSignals?: boolean;
  /**
   * Database and artifact store opened by the caller, who then closes them (standalone.ts shares
   * them with its worker). @defaultValue opened here from config, and closed with the app
   */
  storage?: Storage;
}

export interface RunningServer {
  app: FastifyInstance;
  /** e.g. http://127.0.0.1:8080 */
  url: string;
  /** Closes the app (ending event streams, finishing requests), then the queue and the database. Safe to call twice. */
  close(): Promise<void>;
}

export async function startServer(opts: StartServerOptions = {}): Promise<RunningServer> {
  const config = opts.config ?? loadConfig();
  const { db, repo, store } = opts.storage ?? (await openStorage(config));
  let prefix: string;
  try {
    prefix = await queuePrefix(config, db.prisma);
  } catch (e) {
    if (!opts.storage) await db.close();
    throw e;
  }
  const queue = new BullJobQueue(redisConnectionFromUrl(config.redisUrl), { prefix });
  const closeDeps = async (): Promise<void> => {
    try {
      await queue.close();
    } finally {
      if (!opts.storage) await db.close();
    }
  };
  let app: FastifyInstance;
  try {
    app = await buildApp({ repo, store, queue, config, modelCacheSize: config.modelCacheSize, logger: opts.logger ?? true });
  } catch (e) {
    await closeDeps();
    throw e;
  }
  // this file created the queue (and the storage, unless given): it closes them after the app stopped using them
  app.addHook('onClose', closeDeps);
  let closing: Promise<void> | null = null;
  const close = (): Promise<void> => (closing ??= app.close());
  // before listening: a SIGTERM right after the "listening" line must close, not kill, the process
  const offSignals = opts.handleSignals ?? true ? closeOnSignals(close, (line, level) => app.log[level](line), 'distilxr server') : null;
  try {
    await app.listen({ port: config.port, host: config.host });
  } catch (e) {
    offSignals?.();
    await close();
    throw e;
  }
  if (config.apiKeys.length === 0 && !isLoopback(config.host)) {
    app.log.warn(`no API_KEYS: /v1 is open to anyone who can reach ${config.host}:${config.port} (set API_KEYS, or HOST=127.0.0.1)`);
  }
  const address = app.server.address();
  const url = typeof address === 'object' && address ? `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}` : String(address);
  return { app, url, close };
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

if (process.argv[1] && pathToFileURL(resolve(process.argv[1])).href === import.meta.url) {
  // PGlite's WebAssembly start-up holds no event-loop handle: keep the process up until listening
  const keepAlive = setInterval(() => undefined, 60_000);
  Promise.resolve()
    .then(() => requireSharedDatabase(loadConfig(), 'serve'))
    .then(() => startServer())
    .then(
      () => clearInterval(keepAlive),
      (e: unknown) => {
        console.error(`distilxr server: ${(e as Error).stack ?? String(e)}`);
        process.exit(1);
      },
    );
}
