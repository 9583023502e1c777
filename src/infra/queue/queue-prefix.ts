/**
 * The Redis key prefix of an install's queue. Installs that share a Redis must not share a queue:
 * a worker of one would take the other's jobs and fail them as "not in the database". So, unless
 * REDIS_PREFIX says otherwise, the prefix comes from the database's identity: a random id that
 * the migration creating the `install` table stored in it. Every process opening the same
 * database (API, workers) derives the same prefix; another database gets another one.
 */
import type { PrismaClient } from '../../generated/prisma/client.js';

/** The random id stored in this database when it was first migrated. */
export async function readInstallId(prisma: PrismaClient): Promise<string> {
  const row = await prisma.install.findFirst({ orderBy: [{ createdAt: 'asc' }, { id: 'asc' }] });
  // the migration inserts the row; a database without it was emptied by hand
  if (!row) throw new Error('the database has no install id (table "install" is empty): re-run the migrations on a fresh database, or set REDIS_PREFIX');
  return row.id;
}

/** `distilxr-<16 hex digits of the install id>`: short keys, and collisions as likely as between random 64-bit ids. */
export function installQueuePrefix(installId: string): string {
  return `distilxr-${installId.replaceAll('-', '').slice(0, 16)}`;
}

/** REDIS_PREFIX when set, else the prefix of the database's install. */
export async function queuePrefix(config: { redisPrefix: string | null }, prisma: PrismaClient): Promise<string> {
  return config.redisPrefix ?? installQueuePrefix(await readInstallId(prisma));
}
