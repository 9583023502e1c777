/**
 * `npm run migration:diff -- <name>`: computes the SQL that takes the database built by
 * prisma/migrations to prisma/schema.prisma (Prisma's schema engine as WebAssembly, over PGlite)
 * and writes it as prisma/migrations/<NNNN>_<name>/migration.sql. Without a name it only prints
 * the SQL; `--check` exits 1 when migrations and schema disagree. Review the SQL before committing.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { diffMigrationsToSchema, MIGRATIONS_DIR, SCHEMA_PATH } from './schema-engine.js';

const args = process.argv.slice(2);
const check = args.includes('--check');
const name = args.find((a) => !a.startsWith('--'));
if (name !== undefined && !/^[a-z0-9_]+$/.test(name)) {
  console.error(`migration name must match [a-z0-9_]+, got "${name}"`);
  process.exit(2);
}

const sql = await diffMigrationsToSchema(readFileSync(SCHEMA_PATH, 'utf8'));
if (sql === '') {
  console.log('prisma/migrations already matches prisma/schema.prisma: nothing to do');
  process.exit(0);
}
if (check) {
  console.error('prisma/migrations does not match prisma/schema.prisma; missing:\n\n' + sql);
  process.exit(1);
}
if (name === undefined) {
  process.stdout.write(sql);
  process.exit(0);
}
const existing = existsSync(MIGRATIONS_DIR) ? readdirSync(MIGRATIONS_DIR).filter((d) => /^\d{4}_/.test(d)) : [];
const next = existing.reduce((m, d) => Math.max(m, Number(d.slice(0, 4))), 0) + 1;
const dir = join(MIGRATIONS_DIR, `${String(next).padStart(4, '0')}_${name}`);
mkdirSync(dir, { recursive: true });
writeFileSync(join(dir, 'migration.sql'), sql);
console.log(`wrote ${join(dir, 'migration.sql')}`);
process.exit(0);
