/**
 * Opens the service database: PostgreSQL when a URL is configured, otherwise PGlite (Postgres in
 * WebAssembly, in-process) stored under `<dataDir>/pglite`. Both go through a Prisma driver adapter,
 * so there is one schema and one SQL dialect. Migrations are applied on open.
 *
 * PGlite is single-process: only one process may open a data directory. Run several workers or
 * API processes against PostgreSQL (`DATABASE_URL`).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaPGlite } from 'pglite-prisma-adapter';
import { PrismaClient } from '../../generated/prisma/client.js';
import { migrate, type MigrateOptions } from './migrate.js';

export interface DatabaseConfig {
  /** PostgreSQL URL; `?schema=name` selects a schema as in Prisma URLs. Null: embedded PGlite. */
  databaseUrl: string | null;
  dataDir: string;
}

export interface Database {
  prisma: PrismaClient;
  kind: 'pglite' | 'postgres';
  /** The driver under Prisma: for migrate() and for tests; the service goes through Prisma. */
  driver: PGlite | pg.Pool;
  /** Prisma's `?schema=` of the URL (PostgreSQL only). */
  schema: string | undefined;
  /** Disconnects Prisma, then closes PGlite or the pg pool. Safe to call twice. */
  close(): Promise<void>;
}

/** Splits Prisma's `?schema=` off a PostgreSQL URL (node-postgres does not know it). */
export function parseDatabaseUrl(databaseUrl: string): { connectionString: string; schema: string | undefined } {
  const url = new URL(databaseUrl);
  const schema = url.searchParams.get('schema') || undefined;
  url.searchParams.delete('schema');
  return { connectionString: url.toString(), schema };
}

export async function openDatabase(
  config: DatabaseConfig,
  opts: Pick<MigrateOptions, 'migrationsDir'> = {},
): Promise<Database> {
  if (config.databaseUrl === null) return openPGlite(join(config.dataDir, 'pglite'), opts);
  return openPostgres(config.databaseUrl, opts);
}

async function openPGlite(dir: string, opts: Pick<MigrateOptions, 'migrationsDir'>): Promise<Database> {
  mkdirSync(dir, { recursive: true });
  const db = new PGlite(dir);
  try {
    await migrate(db, opts);
  } catch (e) {
    await db.close();
    throw e;
  }
  const prisma = new PrismaClient({ adapter: new PrismaPGlite(db) });
  return { prisma, kind: 'pglite', driver: db, schema: undefined, close: once(async () => {
    try {
      await prisma.$disconnect();
    } finally {
      await db.close();
    }
  }) };
}

/** How long opening one PostgreSQL connection may take. @defaultValue 5000 ms */
const CONNECT_TIMEOUT_MS = 5000;

async function openPostgres(databaseUrl: string, opts: Pick<MigrateOptions, 'migrationsDir'>): Promise<Database> {
  const { connectionString, schema } = parseDatabaseUrl(databaseUrl);
  // search_path too, so raw SQL sees the same tables as Prisma's schema-qualified queries.
  const pool = new pg.Pool({
    connectionString,
    ...(schema !== undefined ? { options: `-c search_path="${schema.replaceAll('"', '""')}"` } : {}),
    // a server that accepts TCP but does not answer (starting, overloaded) fails a query instead of hanging it
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
  });
  // A restarted server ends idle connections: the pool drops them and reconnects on the next
  // query. Without a listener that 'error' event would crash the process.
  pool.on('error', () => undefined);
  try {
    await migrate(pool, { ...opts, schema });
  } catch (e) {
    await pool.end();
    throw e;
  }
  const prisma = new PrismaClient({ adapter: new PrismaPg(pool, schema !== undefined ? { schema } : undefined) });
  return { prisma, kind: 'postgres', driver: pool, schema, close: once(async () => {
    try {
      await prisma.$disconnect();
    } finally {
      await pool.end();
    }
  }) };
}

function once(fn: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | null = null;
  return () => (done ??= fn());
}
