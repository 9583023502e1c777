/**
 * What the security tests share: the service parts of service-env.ts (one PGlite database and
 * artifact store in a temp DATA_DIR, a BullMQ queue on the real Redis under a fresh prefix), and
 * apps built on them with whatever configuration a test needs (closed together at the end).
 */
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/service/app.js';
import type { BullJobQueue } from '../../src/infra/queue/bull-job-queue.js';
import type { ServiceConfig } from '../../src/infra/config.js';
import type { Storage } from '../../src/infra/storage.js';
import { closeServiceParts, openServiceParts } from './service-env.js';

export { REDIS_URL } from './service-env.js';
export { filesUnder } from './files-under.js';
export { form, type Files } from './multipart.js';

export interface SecurityEnv {
  dataDir: string;
  storage: Storage;
  queue: BullJobQueue;
  /** The queue's Redis key prefix (REDIS_PREFIX of a server on this env). */
  prefix: string;
  /** loadConfig({}) with this env's DATA_DIR. */
  config: ServiceConfig;
  /** An app on this env's storage and queue; closed by close(). */
  build(overrides?: Partial<ServiceConfig>, logger?: object): Promise<FastifyInstance>;
  close(): Promise<void>;
}

export async function openSecurityEnv(): Promise<SecurityEnv> {
  const parts = await openServiceParts('sec');
  const { dataDir, queue, prefix, config } = parts;
  const apps: FastifyInstance[] = [];
  return {
    dataDir,
    storage: parts,
    queue,
    prefix,
    config,
    async build(overrides = {}, logger) {
      const app = await buildApp({ repo: parts.repo, store: parts.store, queue, config: { ...config, ...overrides }, logger });
      apps.push(app);
      return app;
    },
    async close() {
      for (const app of apps) await app.close();
      await closeServiceParts(parts);
    },
  };
}

/** A small valid XC dataset: `points` rows over 10 features and 5 labels. */
export function tinyXc(points = 6): string {
  const rows = Array.from({ length: points }, (_, i) => `${i % 5} ${i % 10}:1 ${(i + 3) % 10}:0.5`);
  return `${points} 10 5\n${rows.join('\n')}\n`;
}
