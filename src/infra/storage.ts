/**
 * The database, its repository and the artifact store, opened the same way by every process that
 * needs them: the API (server.ts), a worker (worker/main.ts) and both at once (standalone.ts).
 */
import { join } from 'node:path';
import type { ServiceConfig } from './config.js';
import { openDatabase, type Database } from './db/db.js';
import { FsArtifactStore } from './artifacts/fs-artifact-store.js';
import { PrismaRepository } from './db/prisma-repository.js';

export interface Storage {
  /** Whoever opened it closes it (db.close), after everything using repo is done. */
  db: Database;
  repo: PrismaRepository;
  store: FsArtifactStore;
}

export async function openStorage(config: Pick<ServiceConfig, 'databaseUrl' | 'dataDir'>): Promise<Storage> {
  const db = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  return { db, repo: new PrismaRepository(db.prisma), store: new FsArtifactStore(join(config.dataDir, 'artifacts')) };
}
