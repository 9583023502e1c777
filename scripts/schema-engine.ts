/**
 * Prisma's schema engine compiled to WebAssembly (@prisma/schema-engine-wasm), driven over PGlite,
 * for the two jobs the native engine would do here: compute a migration from the schema
 * (scripts/migration-diff.ts) and check that prisma/migrations and prisma/schema.prisma agree
 * (test/migrations.test.ts). Development tooling only: the service never loads it.
 *
 * The package's JS glue imports the .wasm as an ES module, which Node 20 cannot do, so the module
 * is instantiated by hand against the glue's `_bg.js` imports. The engine keeps timers alive for
 * ~10 s after use: scripts call `process.exit()` when done.
 */
import { readFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { MIGRATIONS_DIR, readMigrations } from '../src/infra/db/migrate.js';
import { PGlite } from '@electric-sql/pglite';
import {
  bindMigrationAwareSqlAdapterFactory,
  type SqlDriverAdapter,
  type SqlMigrationAwareDriverAdapterFactory,
} from '@prisma/driver-adapter-utils';
import * as engineGlue from '@prisma/schema-engine-wasm/schema_engine_bg';
import type { DiffTarget, MigrationList, SchemaEngine } from '@prisma/schema-engine-wasm/schema_engine_bg';
import { PrismaPGlite } from 'pglite-prisma-adapter';

export const REPO_ROOT = resolve(import.meta.dirname, '..');
export const SCHEMA_PATH = join(REPO_ROOT, 'prisma', 'schema.prisma');
export { MIGRATIONS_DIR };

let instantiated: Promise<void> | null = null;

function instantiateWasm(): Promise<void> {
  instantiated ??= (async () => {
    const require = createRequire(import.meta.url);
    const wasmPath = require.resolve('@prisma/schema-engine-wasm/schema_engine_bg').replace(/\.js$/, '.wasm');
    const imports = { './schema_engine_bg.js': engineGlue as unknown as WebAssembly.ModuleImports };
    const { instance } = await WebAssembly.instantiate(readFileSync(wasmPath), imports);
    engineGlue.__wbg_set_wasm(instance.exports);
    (instance.exports.__wbindgen_start as () => void)();
  })();
  return instantiated;
}

/**
 * Adapter factory over PGlite databases in memory. The adapter package's `executeScript` does not
 * await PGlite's `exec` (errors become unhandled rejections), so it is replaced here.
 */
class PGliteEngineFactory implements SqlMigrationAwareDriverAdapterFactory {
  readonly provider = 'postgres';
  readonly adapterName = 'pglite-schema-engine';
  private readonly opened: PGlite[] = [];

  constructor(
    private readonly main: PGlite,
    private readonly mainIsShadow: boolean,
  ) {}

  connect(): Promise<SqlDriverAdapter> {
    return this.adapterOver(this.main);
  }

  async connectToShadowDb(): Promise<SqlDriverAdapter> {
    if (this.mainIsShadow) return this.adapterOver(this.main);
    const shadow = new PGlite();
    this.opened.push(shadow);
    return this.adapterOver(shadow);
  }

  async close(): Promise<void> {
    for (const db of this.opened.splice(0)) await db.close();
  }

  private async adapterOver(db: PGlite): Promise<SqlDriverAdapter> {
    const adapter = (await new PrismaPGlite(db).connect()) as unknown as SqlDriverAdapter;
    adapter.executeScript = async (script: string) => {
      await db.exec(script);
    };
    return adapter;
  }
}

export interface EngineSession {
  engine: SchemaEngine;
  /** Empty schema-engine filter (no externally managed tables or enums). */
  filters: { externalTables: string[]; externalEnums: string[] };
  close(): Promise<void>;
}

/**
 * Starts the engine over `db` (an empty in-memory PGlite when omitted). Shadow databases, needed to
 * replay migrations, are fresh in-memory PGlites closed with the session, or with
 * `mainIsShadow` the main database itself (it must then be empty; saves a PGlite start, ~2 s).
 */
export async function openSchemaEngine(schema: string, opts: { db?: PGlite; mainIsShadow?: boolean } = {}): Promise<EngineSession> {
  await instantiateWasm();
  const db = opts.db;
  const main = db ?? new PGlite();
  const factory = new PGliteEngineFactory(main, opts.mainIsShadow ?? false);
  const log = (line: string) => {
    if (process.env.SCHEMA_ENGINE_LOG) console.error(line);
  };
  const engine = await engineGlue.SchemaEngine.new(
    { datamodels: [['schema.prisma', schema]] },
    log,
    bindMigrationAwareSqlAdapterFactory(factory),
  );
  return {
    engine,
    filters: { externalTables: [], externalEnums: [] },
    close: async () => {
      engine.free();
      await factory.close();
      if (!db) await main.close();
    },
  };
}

/** The migrations directory as the engine reads it (`prisma migrate` layout, sorted by name). */
export function readMigrationList(dir = MIGRATIONS_DIR): MigrationList {
  const lockPath = join(dir, 'migration_lock.toml');
  const migrations = existsSync(dir) ? readMigrations(dir) : [];
  return {
    baseDir: dir,
    lockfile: { path: 'migration_lock.toml', content: existsSync(lockPath) ? readFileSync(lockPath, 'utf8') : null },
    shadowDbInitScript: '',
    migrationDirectories: migrations.map(({ name, sql }) => ({
      path: name,
      migrationFile: { path: 'migration.sql', content: { tag: 'ok', value: sql } },
    })),
  };
}

export function schemaTarget(schema: string): DiffTarget {
  return { tag: 'schemaDatamodel', files: [{ path: 'schema.prisma', content: schema }] };
}

/**
 * SQL that takes a database built by the migrations in `dir` to `schema`; '' when they agree.
 * A migration that fails to apply rejects with the engine's message.
 */
export async function diffMigrationsToSchema(schema: string, dir = MIGRATIONS_DIR): Promise<string> {
  const s = await openSchemaEngine(schema, { mainIsShadow: true });
  try {
    const r = await s.engine.diff({
      from: { tag: 'migrations', ...readMigrationList(dir) },
      to: schemaTarget(schema),
      script: true,
      exitCode: null,
      filters: s.filters,
    });
    return normalizeScript(r.stdout ?? '');
  } finally {
    await s.close();
  }
}

/**
 * The engine's script without the no-op it prints for an empty diff, and without
 * `CREATE SCHEMA IF NOT EXISTS "public"` (diffing from nothing adds it; `prisma migrate dev` never
 * does, because its shadow database has a public schema, and it would be wrong under ?schema=x).
 */
export function normalizeScript(sql: string): string {
  const s = sql
    .replace(/-- CreateSchema\nCREATE SCHEMA IF NOT EXISTS "public";\n\n?/, '')
    .replace(/^-- This is an empty migration\.\s*$/m, '')
    .trim();
  return s === '' ? '' : s + '\n';
}
