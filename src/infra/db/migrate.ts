/**
 * Applies the SQL migrations under prisma/migrations without Prisma's native schema engine, and
 * records them exactly where `prisma migrate deploy` does (the `_prisma_migrations` table, same
 * columns, sha256 checksums), so either tool can take over from the other.
 *
 * - Migrations run in name order, each in its own transaction together with its bookkeeping row:
 *   a failing migration leaves nothing behind (so a migration must not contain BEGIN/COMMIT or
 *   statements that cannot run in a transaction, such as CREATE INDEX CONCURRENTLY).
 * - Applied migrations are skipped; one whose file changed since (checksum differs) is refused, as
 *   is a failed migration recorded by `prisma migrate deploy` and not yet resolved.
 * - The whole run holds the advisory lock Prisma's schema engine takes, so two processes starting
 *   at once (or this and `prisma migrate deploy`) apply each migration once.
 */
import { createHash, randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { DistilxrError } from '../../core/util/errors.js';

/** prisma/migrations of this repository. */
export const MIGRATIONS_DIR = fileURLToPath(new URL('../../../prisma/migrations', import.meta.url));

/** The key of Prisma's schema-engine advisory lock (`pg_advisory_lock(72707369)`). */
export const MIGRATION_LOCK_KEY = 72707369;

/** A PGlite database, a pg pool (one client is borrowed), a connected pg client, or a URL. */
export type MigrationTarget = PGlite | pg.Pool | pg.Client | string;

export interface MigrateOptions {
  /** @defaultValue MIGRATIONS_DIR */
  migrationsDir?: string;
  /** PostgreSQL schema to migrate (created when missing), as `?schema=` in a Prisma URL. @defaultValue the connection's search_path */
  schema?: string;
}

export interface MigrateResult {
  /** Names applied by this call, in order. */
  applied: string[];
  /** Names found already applied. */
  skipped: string[];
}

export interface MigrationFile {
  name: string;
  sql: string;
  checksum: string;
}

/** An applied migration's file no longer matches what was applied. */
export class MigrationChecksumError extends DistilxrError {
  constructor(readonly migrations: string[]) {
    super(
      `migration${migrations.length > 1 ? 's' : ''} ${migrations.join(', ')} changed after being applied ` +
        '(checksum in _prisma_migrations differs from the file); restore the original file and put changes in a new migration',
      'MIGRATION_CHECKSUM',
    );
  }
}

/** A migration failed now, or earlier under `prisma migrate deploy` and was never resolved. */
export class MigrationFailedError extends DistilxrError {
  constructor(
    readonly migration: string,
    detail: string,
  ) {
    super(`migration ${migration} failed: ${detail}`, 'MIGRATION_FAILED');
  }
}

/** sha256 hex of a migration script, as Prisma stores it in `_prisma_migrations.checksum`. */
export function migrationChecksum(sql: string): string {
  return createHash('sha256').update(sql, 'utf8').digest('hex');
}

/** Prisma accepts a checksum taken before or after a CRLF↔LF conversion (git autocrlf). */
function checksumMatches(sql: string, checksum: string): boolean {
  if (migrationChecksum(sql) === checksum) return true;
  if (sql.includes('\r\n')) return migrationChecksum(sql.replaceAll('\r\n', '\n')) === checksum;
  return migrationChecksum(sql.replaceAll('\n', '\r\n')) === checksum;
}

/** The migration directories that hold a migration.sql, sorted by name (Prisma's order). */
export function readMigrations(dir: string = MIGRATIONS_DIR): MigrationFile[] {
  if (!existsSync(dir)) throw new DistilxrError(`migrations directory not found: ${dir}`, 'MIGRATION_FAILED');
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && existsSync(join(dir, e.name, 'migration.sql')))
    .map((e) => e.name)
    .sort()
    .map((name) => {
      const sql = readFileSync(join(dir, name, 'migration.sql'), 'utf8');
      return { name, sql, checksum: migrationChecksum(sql) };
    });
}

/** Prisma's own DDL for its bookkeeping table (PostgreSQL connector). */
const CREATE_MIGRATIONS_TABLE = `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
)`;

/** One connection: statements run in order on the same session (locks, transactions). */
interface Session {
  query(sql: string, params?: unknown[]): Promise<Record<string, unknown>[]>;
  /** Several statements, no parameters. */
  exec(script: string): Promise<void>;
  /** `broken`: the connection may be unusable (a pooled client is then discarded). */
  release(broken: boolean): Promise<void>;
}

async function openSession(target: MigrationTarget): Promise<Session> {
  if (target instanceof PGlite) {
    return {
      query: async (sql, params) => (await target.query<Record<string, unknown>>(sql, params)).rows,
      exec: async (script) => {
        await target.exec(script);
      },
      release: async () => {},
    };
  }
  const fromClient = (client: pg.ClientBase, release: (broken: boolean) => Promise<void>): Session => ({
    query: async (sql, params) => (await client.query(sql, params)).rows,
    // No parameters: node-postgres sends a simple query, which may hold several statements.
    exec: async (script) => {
      await client.query(script);
    },
    release,
  });
  if (typeof target === 'string') {
    const client = new pg.Client({ connectionString: target });
    await client.connect();
    return fromClient(client, () => client.end());
  }
  if (target instanceof pg.Pool) {
    const client = await target.connect();
    return fromClient(client, async (broken) => client.release(broken));
  }
  return fromClient(target, async () => {});
}

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Brings the database up to date with the migrations directory; see the file comment for the
 * guarantees. Throws MigrationChecksumError or MigrationFailedError (nothing of that migration is
 * kept; earlier ones stay applied).
 */
export async function migrate(target: MigrationTarget, opts: MigrateOptions = {}): Promise<MigrateResult> {
  if (typeof target === 'string' || target instanceof pg.Pool) return migrateOnce(target, opts);
  // One session (PGlite, a pg client): the advisory lock is re-entrant within a session, so calls
  // sharing it are serialized here instead.
  const run = (sessionQueue.get(target) ?? Promise.resolve()).then(() => migrateOnce(target, opts));
  sessionQueue.set(target, run.then(noop, noop));
  return run;
}

/** Per session: settles when the last migrate() queued on it is done (never rejects). */
const sessionQueue = new WeakMap<object, Promise<void>>();
const noop = () => {};

async function migrateOnce(target: MigrationTarget, opts: MigrateOptions): Promise<MigrateResult> {
  const files = readMigrations(opts.migrationsDir);
  const session = await openSession(target);
  let locked = false;
  let broken = false;
  try {
    await session.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    locked = true;
    // After the lock: concurrent CREATE SCHEMA IF NOT EXISTS can fail on a unique violation.
    if (opts.schema !== undefined) {
      await session.exec(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(opts.schema)}; SET search_path TO ${quoteIdent(opts.schema)}`);
    }
    await session.exec(CREATE_MIGRATIONS_TABLE);

    const rows = (await session.query(
      'SELECT migration_name, checksum, finished_at, logs FROM "_prisma_migrations" WHERE rolled_back_at IS NULL ORDER BY started_at',
    )) as { migration_name: string; checksum: string; finished_at: Date | null; logs: string | null }[];
    const failed = rows.find((r) => r.finished_at === null);
    if (failed) {
      throw new MigrationFailedError(
        failed.migration_name,
        `recorded as failed in _prisma_migrations${failed.logs ? ` (${failed.logs.split('\n')[0]})` : ''}; ` +
          'fix the database, then mark it rolled back (`prisma migrate resolve --rolled-back`) or delete its row',
      );
    }
    const applied = new Map(rows.map((r) => [r.migration_name, r.checksum]));
    const edited = files.filter((f) => applied.has(f.name) && !checksumMatches(f.sql, applied.get(f.name)!)).map((f) => f.name);
    if (edited.length > 0) throw new MigrationChecksumError(edited);

    const result: MigrateResult = { applied: [], skipped: [] };
    for (const file of files) {
      if (applied.has(file.name)) {
        result.skipped.push(file.name);
        continue;
      }
      const startedAt = new Date();
      await session.exec('BEGIN');
      try {
        await session.exec(file.sql);
        await session.query(
          `INSERT INTO "_prisma_migrations" (id, checksum, finished_at, migration_name, logs, rolled_back_at, started_at, applied_steps_count)
           VALUES ($1, $2, clock_timestamp(), $3, NULL, NULL, $4, 1)`,
          [randomUUID(), file.checksum, file.name, startedAt],
        );
        await session.exec('COMMIT');
      } catch (e) {
        await session.exec('ROLLBACK').catch(() => {});
        throw new MigrationFailedError(file.name, errorMessage(e));
      }
      result.applied.push(file.name);
    }
    return result;
  } finally {
    try {
      if (locked) await session.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
      if (opts.schema !== undefined) await session.exec('RESET search_path');
    } catch {
      broken = true; // the error that got us here is the one to report
    } finally {
      await session.release(broken);
    }
  }
}
