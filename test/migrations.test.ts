/**
 * prisma/migrations agrees with prisma/schema.prisma, and migrate() agrees with Prisma's own
 * migration engine, checked with that engine itself: @prisma/schema-engine-wasm (the schema engine
 * compiled to WebAssembly) over in-memory PGlite databases.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate, migrationChecksum, MIGRATIONS_DIR, readMigrations } from '../src/infra/db/migrate.js';
import {
  normalizeScript,
  openSchemaEngine,
  readMigrationList,
  schemaTarget,
  SCHEMA_PATH,
} from '../scripts/schema-engine.js';

const schema = readFileSync(SCHEMA_PATH, 'utf8');
const names = readMigrations().map((m) => m.name);

describe('migrations vs schema (Prisma schema engine, wasm)', () => {
  // One database for every step (PGlite's initdb is the slow part), emptied between steps; the
  // steps run in order.
  let db: PGlite;
  const reset = () => db.exec('DROP SCHEMA public CASCADE; CREATE SCHEMA public;');
  type Shape = Awaited<ReturnType<typeof describeDb>>;
  const shapes: { ours?: Shape; prismas?: Shape } = {};

  async function describeDb() {
    const columns = await db.query(
      `SELECT table_name, column_name, data_type, is_nullable, column_default
         FROM information_schema.columns WHERE table_schema = 'public' ORDER BY table_name, column_name`,
    );
    const indexes = await db.query(`SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY indexname`);
    const constraints = await db.query(
      `SELECT conname, pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY conname`,
    );
    return { columns: columns.rows, indexes: indexes.rows, constraints: constraints.rows };
  }

  /** The SQL from replaying prisma/migrations to `target` (a schema text); exitCode 0: no difference, 2: some. */
  async function diffMigrationsTo(target: string) {
    // The engine replays the migrations in its "shadow database": here the empty test database.
    const s = await openSchemaEngine(target, { db, mainIsShadow: true });
    try {
      return await s.engine.diff({
        from: { tag: 'migrations', ...readMigrationList() },
        to: schemaTarget(target),
        script: true,
        exitCode: true,
        filters: s.filters,
      });
    } finally {
      await s.close();
      await reset();
    }
  }

  beforeAll(async () => {
    db = new PGlite();
    await db.waitReady;
  });
  afterAll(async () => {
    await db?.close();
  });

  it('replaying prisma/migrations yields exactly the schema (empty diff)', async () => {
    expect(names.length).toBeGreaterThan(0);
    const r = await diffMigrationsTo(schema);
    // On a mismatch this prints the SQL a new migration needs (npm run migration:diff -- <name>).
    expect(normalizeScript(r.stdout ?? '')).toBe('');
    expect(r.exitCode).toBe(0);
  });

  it('the check is not vacuous: a schema change shows up in the diff', async () => {
    const changed = schema.replace(/(model Job \{\n)/, '$1  priority Int @default(0)\n');
    expect(changed).not.toBe(schema);
    const r = await diffMigrationsTo(changed);
    expect(r.stdout).toContain('ALTER TABLE "jobs" ADD COLUMN     "priority" INTEGER NOT NULL DEFAULT 0');
    expect(r.exitCode).toBe(2);
  });

  it('migrate() leaves a history Prisma reads as applied and in sync', async () => {
    expect(await migrate(db)).toEqual({ applied: names, skipped: [] });
    const s = await openSchemaEngine(schema, { db });
    try {
      const diag = await s.engine.diagnoseMigrationHistory({
        migrationsList: readMigrationList(),
        optInToShadowDatabase: false,
        filters: s.filters,
      });
      expect(diag).toEqual({ editedMigrationNames: [], failedMigrationNames: [], hasMigrationsTable: true, history: null });
      // What `prisma migrate deploy` would do next: nothing.
      const applied = await s.engine.applyMigrations({ migrationsList: readMigrationList(), filters: s.filters });
      expect(applied.appliedMigrationNames).toEqual([]);
    } finally {
      await s.close();
    }
    shapes.ours = await describeDb();
    await reset();
  });

  it('a database migrated by Prisma is taken as up to date by migrate()', async () => {
    const s = await openSchemaEngine(schema, { db });
    try {
      const applied = await s.engine.applyMigrations({ migrationsList: readMigrationList(), filters: s.filters });
      expect(applied.appliedMigrationNames).toEqual(names);
    } finally {
      await s.close();
    }
    const rows = (await db.query<{ migration_name: string; checksum: string }>('SELECT migration_name, checksum FROM "_prisma_migrations" ORDER BY migration_name')).rows;
    expect(rows).toEqual(
      names.map((n) => ({ migration_name: n, checksum: migrationChecksum(readFileSync(join(MIGRATIONS_DIR, n, 'migration.sql'), 'utf8')) })),
    );
    expect(await migrate(db)).toEqual({ applied: [], skipped: names });
    shapes.prismas = await describeDb();
  });

  it('both routes build the same tables, columns, indexes and constraints', () => {
    expect(shapes.ours).toBeDefined();
    expect(shapes.ours).toEqual(shapes.prismas);
    expect(shapes.ours!.indexes.map((r) => (r as { indexname: string }).indexname)).toEqual(
      expect.arrayContaining(['jobs_status_idx', 'job_events_job_id_id_idx']),
    );
  });
});
