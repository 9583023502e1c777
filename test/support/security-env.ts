/**
 * What the security tests share: one PGlite database and artifact store in a temp DATA_DIR, a
 * BullMQ queue on the real Redis under a fresh prefix, and apps built on them with whatever
 * configuration a test needs (closed together at the end).
 */
import type { FastifyInstance } from 'fastify';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildApp } from '../../src/service/app.js';
import { BullJobQueue, redisConnectionFromUrl } from '../../src/service/bull-job-queue.js';
import { loadConfig, type ServiceConfig } from '../../src/service/config.js';
import { openStorage, type Storage } from '../../src/service/storage.js';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

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
  const dataDir = await mkdtemp(join(tmpdir(), 'distilxr-sec-'));
  const config: ServiceConfig = { ...loadConfig({}), dataDir };
  const storage = await openStorage(config);
  const prefix = `sec-${randomUUID().slice(0, 8)}`;
  const queue = new BullJobQueue(redisConnectionFromUrl(REDIS_URL), { prefix });
  const apps: FastifyInstance[] = [];
  return {
    dataDir,
    storage,
    queue,
    prefix,
    config,
    async build(overrides = {}, logger) {
      const app = await buildApp({ repo: storage.repo, store: storage.store, queue, config: { ...config, ...overrides }, logger });
      apps.push(app);
      return app;
    },
    async close() {
      for (const app of apps) await app.close();
      await queue.queue.obliterate({ force: true });
      await queue.close();
      await storage.db.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Every file under dir, recursively (temporary and staging files included); [] when absent. */
export async function filesUnder(dir: string): Promise<string[]> {
  if (!existsSync(dir)) return [];
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

export type Files = Record<string, { data: Uint8Array | string; filename?: string }>;

export function form(files: Files, fields: Record<string, string> = {}): FormData {
  const fd = new FormData();
  for (const [name, value] of Object.entries(fields)) fd.append(name, value);
  for (const [name, f] of Object.entries(files)) fd.append(name, new Blob([typeof f.data === 'string' ? f.data : Buffer.from(f.data)]), f.filename ?? `${name}.txt`);
  return fd;
}

/** A small valid XC dataset: `points` rows over 10 features and 5 labels. */
export function tinyXc(points = 6): string {
  const rows = Array.from({ length: points }, (_, i) => `${i % 5} ${i % 10}:1 ${(i + 3) % 10}:0.5`);
  return `${points} 10 5\n${rows.join('\n')}\n`;
}
