/**
 * The repository suite, run against embedded PGlite (temp dir) and against the PostgreSQL server
 * (a fresh schema per run, dropped afterwards). Also migrate(): idempotence, checksum refusal,
 * failed migrations rolled back, concurrent starts.
 */
import { randomUUID } from 'node:crypto';
import { cp, mkdtemp, readFile, rm, writeFile, appendFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatasetStats } from '../src/core/data/dataset.js';
import { openDatabase, parseDatabaseUrl, type Database } from '../src/infra/db/db.js';
import {
  migrate,
  migrationChecksum,
  MigrationChecksumError,
  MigrationFailedError,
  MIGRATIONS_DIR,
  readMigrations,
  type MigrationTarget,
} from '../src/infra/db/migrate.js';
import { ForeignKeyError, PrismaRepository, RecordNotFoundError } from '../src/infra/db/prisma-repository.js';
import { JOB_STATUSES, type JobRecord } from '../src/infra/records.js';

/** Every migration under prisma/migrations, in the order they apply. */
const MIGRATION_NAMES = readMigrations().map((m) => m.name);

const PG_URL = process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/test';

const stats = (points: number): DatasetStats => ({
  points,
  features: 500,
  labels: 100,
  labelsPerPoint: 2.5,
  pointsPerLabel: 12.25,
  nnzPerPoint: 31.5,
});
const uid = (p: string) => `${p}_${randomUUID().slice(0, 8)}`;

/** Raw SQL on the backend's own driver (in the test schema for PostgreSQL). */
async function rawQuery(db: Database, sql: string): Promise<Record<string, unknown>[]> {
  if (db.driver instanceof PGlite) return (await db.driver.query<Record<string, unknown>>(sql)).rows;
  return (await db.driver.query(sql)).rows;
}

interface Backend {
  name: string;
  /** Opens the same database (directory or schema) each time. */
  open(): Promise<Database>;
  cleanup(): Promise<void>;
}

const pgliteBackend = (): Backend => {
  let dir = '';
  return {
    name: 'PGlite',
    async open() {
      dir ||= await mkdtemp(join(tmpdir(), 'distilxr-db-'));
      return openDatabase({ databaseUrl: null, dataDir: dir });
    },
    async cleanup() {
      if (dir) await rm(dir, { recursive: true, force: true });
    },
  };
};

const postgresBackend = (): Backend => {
  const schema = `t_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
  return {
    name: 'PostgreSQL',
    open: () => openDatabase({ databaseUrl: `${PG_URL}?schema=${schema}`, dataDir: tmpdir() }),
    async cleanup() {
      const client = new pg.Client({ connectionString: PG_URL });
      await client.connect();
      try {
        await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      } finally {
        await client.end();
      }
    },
  };
};

describe.each([pgliteBackend(), postgresBackend()])('PrismaRepository on $name', (backend) => {
  let db: Database;
  let repo: PrismaRepository;
  /** What migrate() needs to reach this database again. */
  let target: () => MigrationTarget;
  let schema: string | undefined;
  let datasetId: string;

  beforeAll(async () => {
    db = await backend.open();
    repo = new PrismaRepository(db.prisma);
    schema = db.schema;
    target = () => db.driver;
    datasetId = uid('ds');
    await repo.createDataset({ id: datasetId, name: 'fixture', format: 'xc', trainKey: 'k', testKey: null, stats: stats(1), testStats: null });
  });
  afterAll(async () => {
    await db?.close();
    await backend.cleanup();
  });

  it('pings', async () => {
    await expect(repo.ping()).resolves.toBeUndefined();
  });

  it('datasets: create, get, list; JSON and nulls round-trip', async () => {
    const id = uid('ds');
    const created = await repo.createDataset({
      id,
      name: 'Bibtex',
      format: 'xc',
      trainKey: `datasets/${id}/train.txt`,
      testKey: `datasets/${id}/test.txt`,
      stats: stats(4880),
      testStats: stats(2515),
    });
    expect(created.createdAt).toBeInstanceOf(Date);
    expect(Math.abs(created.createdAt.getTime() - Date.now())).toBeLessThan(60_000);
    const got = await repo.getDataset(id);
    expect(got).toEqual(created);
    expect(got).toMatchObject({ name: 'Bibtex', format: 'xc', stats: stats(4880), testStats: stats(2515) });

    const id2 = uid('ds');
    const bare = await repo.createDataset({ id: id2, name: 'text', format: 'jsonl', trainKey: 'k2', testKey: null, stats: stats(3), testStats: null });
    expect(bare.testKey).toBeNull();
    expect(bare.testStats).toBeNull();
    expect(await repo.getDataset(id2)).toEqual(bare);

    const list = await repo.listDatasets();
    expect(list.map((d) => d.id)).toEqual(expect.arrayContaining([id, id2, datasetId]));
    // Newest first.
    for (let i = 1; i < list.length; i++) expect(list[i - 1].createdAt.getTime()).toBeGreaterThanOrEqual(list[i].createdAt.getTime());
    expect(await repo.getDataset('missing')).toBeNull();
  });

  it('teachers: create, get, list; sizes beyond 32 bits; metrics object or null', async () => {
    const id = uid('t');
    const t = await repo.createTeacher({
      id,
      name: 'mlp',
      key: `teachers/${id}/model.onnx`,
      kind: 'logits',
      numLabels: 159,
      sizeBytes: 5_000_000_123,
      jobId: null,
      datasetId,
      metrics: { 'p@1': 0.61, nested: { ks: [1, 3, 5] } },
    });
    expect(t.sizeBytes).toBe(5_000_000_123);
    expect(await repo.getTeacher(id)).toEqual(t);
    const id2 = uid('t');
    const u = await repo.createTeacher({ id: id2, name: 'up', key: 'k', kind: 'scores', numLabels: null, sizeBytes: 10, jobId: null, datasetId: null, metrics: null });
    expect(u).toMatchObject({ numLabels: null, datasetId: null, metrics: null, jobId: null });
    expect((await repo.listTeachers()).map((x) => x.id)).toEqual(expect.arrayContaining([id, id2]));
    expect(await repo.getTeacher('missing')).toBeNull();
    await expect(
      repo.createTeacher({ id: uid('t'), name: 'x', key: 'k', kind: 'scores', numLabels: null, sizeBytes: 1, jobId: 'no-such-job', datasetId: null, metrics: null }),
    ).rejects.toThrow(ForeignKeyError);
  });

  it('jobs: create with defaults, get, update a patch', async () => {
    const id = uid('job');
    const job = await repo.createJob({ id, kind: 'train', params: { epochs: 3, lr: 0.1, tags: ['a'] }, datasetId, teacherId: null });
    expect(job).toMatchObject({
      id,
      kind: 'train',
      status: 'queued',
      stage: null,
      progress: 0,
      params: { epochs: 3, lr: 0.1, tags: ['a'] },
      datasetId,
      teacherId: null,
      modelId: null,
      resultTeacherId: null,
      error: null,
      examplesPerSecond: null,
      etaSeconds: null,
      metrics: null,
      cancelRequested: false,
      attempts: 0,
      startedAt: null,
      finishedAt: null,
    });
    expect(job.createdAt).toBeInstanceOf(Date);
    expect(job.updatedAt).toBeInstanceOf(Date);
    expect(await repo.getJob(id)).toEqual(job);

    const startedAt = new Date('2025-01-02T03:04:05.678Z');
    const updated = await repo.updateJob(id, {
      status: 'running',
      stage: 'training',
      progress: 0.25,
      examplesPerSecond: 12345.5,
      etaSeconds: 60,
      metrics: { loss: 0.5 },
      attempts: 1,
      startedAt,
    });
    expect(updated).toMatchObject({ status: 'running', stage: 'training', progress: 0.25, examplesPerSecond: 12345.5, etaSeconds: 60, metrics: { loss: 0.5 }, attempts: 1 });
    expect(updated.startedAt).toEqual(startedAt);
    expect(updated.updatedAt.getTime()).toBeGreaterThanOrEqual(job.updatedAt.getTime());
    expect(updated.params).toEqual(job.params);
    // Explicit nulls clear; absent fields stay.
    const cleared = await repo.updateJob(id, { metrics: null, etaSeconds: null });
    expect(cleared).toMatchObject({ metrics: null, etaSeconds: null, stage: 'training', examplesPerSecond: 12345.5 });
    expect(await repo.getJob(id)).toEqual(cleared);

    await expect(repo.updateJob('missing', { stage: 'x' })).rejects.toThrow(RecordNotFoundError);
    await expect(repo.createJob({ id: uid('job'), kind: 'train', params: {}, datasetId: 'no-such-dataset', teacherId: null })).rejects.toThrow(ForeignKeyError);
    expect(await repo.getJob('missing')).toBeNull();
  });

  it('listJobs filters by status and limits; listUnfinishedJobs returns queued and running', async () => {
    const ids = { q: uid('jq'), r: uid('jr'), c: uid('jc'), f: uid('jf') };
    for (const id of Object.values(ids)) await repo.createJob({ id, kind: 'teacher-fit', params: {}, datasetId, teacherId: null });
    await repo.updateJob(ids.r, { status: 'running' });
    await repo.finishJob(ids.c, 'completed');
    await repo.finishJob(ids.f, 'failed', { error: 'boom' });

    const running = await repo.listJobs({ status: 'running' });
    expect(running.every((j) => j.status === 'running')).toBe(true);
    expect(running.map((j) => j.id)).toContain(ids.r);
    expect(running.map((j) => j.id)).not.toContain(ids.q);
    const failed = await repo.listJobs({ status: 'failed' });
    expect(failed.find((j) => j.id === ids.f)).toMatchObject({ error: 'boom', kind: 'teacher-fit' });

    const all = await repo.listJobs();
    expect(all.map((j) => j.id)).toEqual(expect.arrayContaining(Object.values(ids)));
    for (let i = 1; i < all.length; i++) expect(all[i - 1].createdAt.getTime()).toBeGreaterThanOrEqual(all[i].createdAt.getTime());
    expect(await repo.listJobs({ limit: 2 })).toHaveLength(2);
    expect((await repo.listJobs({ limit: 2 })).map((j) => j.id)).toEqual(all.slice(0, 2).map((j) => j.id));

    const unfinished = await repo.listUnfinishedJobs();
    expect(unfinished.every((j) => j.status === 'queued' || j.status === 'running')).toBe(true);
    expect(unfinished.map((j) => j.id)).toEqual(expect.arrayContaining([ids.q, ids.r]));
    expect(unfinished.map((j) => j.id)).not.toContain(ids.c);

    // jobStats agrees with the rows, every status present
    await repo.updateJob(ids.r, { examplesPerSecond: 100.5 });
    const rows = await repo.listJobs();
    const stats = await repo.jobStats();
    for (const s of JOB_STATUSES) expect(stats.byStatus[s]).toBe(rows.filter((j) => j.status === s).length);
    expect(stats.byStatus.running).toBeGreaterThanOrEqual(1);
    const eps = rows.filter((j) => j.status === 'running').reduce((a, j) => a + (j.examplesPerSecond ?? 0), 0);
    expect(stats.runningExamplesPerSecond).toBeCloseTo(eps, 6);
    expect(stats.runningExamplesPerSecond).toBeGreaterThanOrEqual(100.5);
  });

  it('finishJob moves to a final status once; a late worker cannot overwrite cancelled', async () => {
    const id = uid('job');
    await repo.createJob({ id, kind: 'train', params: {}, datasetId, teacherId: null });
    await repo.updateJob(id, { status: 'running', stage: 'training' });

    const cancelled = await repo.finishJob(id, 'cancelled', { error: 'cancelled by user' });
    expect(cancelled).toMatchObject({ status: 'cancelled', error: 'cancelled by user' });
    expect(cancelled!.finishedAt).toBeInstanceOf(Date);

    const late = await repo.finishJob(id, 'completed', { progress: 1, modelId: 'm-late' });
    expect(late).toBeNull();
    expect(await repo.getJob(id)).toMatchObject({ status: 'cancelled', progress: 0, modelId: null, finishedAt: cancelled!.finishedAt });
    expect(await repo.finishJob('missing', 'failed')).toBeNull();

    // Two writers at once: exactly one wins.
    const id2 = uid('job');
    await repo.createJob({ id: id2, kind: 'train', params: {}, datasetId, teacherId: null });
    const finishedAt = new Date('2030-01-01T00:00:00.000Z');
    const results = await Promise.all([
      repo.finishJob(id2, 'completed', { progress: 1, finishedAt }),
      repo.finishJob(id2, 'cancelled'),
      repo.finishJob(id2, 'failed', { error: 'x' }),
    ]);
    const winners = results.filter((r): r is JobRecord => r !== null);
    expect(winners).toHaveLength(1);
    expect((await repo.getJob(id2))!.status).toBe(winners[0].status);
    if (winners[0].status === 'completed') expect(winners[0].finishedAt).toEqual(finishedAt);
  });

  it('requestCancel flags unfinished jobs, leaves final ones, null when missing', async () => {
    const id = uid('job');
    await repo.createJob({ id, kind: 'train', params: {}, datasetId, teacherId: null });
    const flagged = await repo.requestCancel(id);
    expect(flagged).toMatchObject({ id, status: 'queued', cancelRequested: true });
    expect((await repo.getJob(id))!.cancelRequested).toBe(true);

    const done = uid('job');
    await repo.createJob({ id: done, kind: 'train', params: {}, datasetId, teacherId: null });
    await repo.finishJob(done, 'completed');
    expect(await repo.requestCancel(done)).toMatchObject({ status: 'completed', cancelRequested: false });
    expect(await repo.requestCancel('missing')).toBeNull();
  });

  it('job events: ids increase, listed in id order, afterId / types / limit', async () => {
    const a = uid('job');
    const b = uid('job');
    await repo.createJob({ id: a, kind: 'train', params: {}, datasetId, teacherId: null });
    await repo.createJob({ id: b, kind: 'train', params: {}, datasetId, teacherId: null });
    const e1 = await repo.addJobEvent(a, 'status', { status: 'running' });
    const other = await repo.addJobEvent(b, 'log', { line: 'b' });
    const e2 = await repo.addJobEvent(a, 'progress', { progress: 0.5, eta: 10 });
    const e3 = await repo.addJobEvent(a, 'epoch', { epoch: 1, metrics: { 'p@1': 0.4 } });
    const e4 = await repo.addJobEvent(a, 'progress', { progress: 1 });
    expect(typeof e1.id).toBe('number');
    expect(e1.id).toBeLessThan(other.id);
    expect(other.id).toBeLessThan(e2.id);
    expect(e2.id).toBeLessThan(e3.id);
    expect(e1).toMatchObject({ jobId: a, type: 'status', data: { status: 'running' } });
    expect(e1.createdAt).toBeInstanceOf(Date);

    const all = await repo.listJobEvents(a);
    expect(all.map((e) => e.id)).toEqual([e1.id, e2.id, e3.id, e4.id]);
    expect(all[2]).toEqual(e3);
    expect((await repo.listJobEvents(a, { afterId: e2.id })).map((e) => e.id)).toEqual([e3.id, e4.id]);
    expect((await repo.listJobEvents(a, { afterId: e4.id }))).toEqual([]);
    expect((await repo.listJobEvents(a, { types: ['progress'] })).map((e) => e.id)).toEqual([e2.id, e4.id]);
    expect((await repo.listJobEvents(a, { afterId: e1.id, limit: 2 })).map((e) => e.id)).toEqual([e2.id, e3.id]);
    expect((await repo.listJobEvents(b)).map((e) => e.id)).toEqual([other.id]);
    await expect(repo.addJobEvent('missing', 'log', {})).rejects.toThrow(ForeignKeyError);
  });

  it('models: create, get, list; linked to job, dataset and teacher', async () => {
    const jobId = uid('job');
    await repo.createJob({ id: jobId, kind: 'train', params: {}, datasetId, teacherId: null });
    const teacherId = uid('t');
    await repo.createTeacher({ id: teacherId, name: 't', key: 'k', kind: 'scores', numLabels: 10, sizeBytes: 1, jobId: null, datasetId, metrics: null });
    const id = uid('m');
    const m = await repo.createModel({
      id,
      jobId,
      datasetId,
      teacherId,
      key: `models/${id}`,
      config: { hidden: 256, labels: 159 },
      metrics: { 'p@1': 0.62 },
      teacherMetrics: null,
    });
    expect(m).toMatchObject({ id, jobId, teacherId, config: { hidden: 256, labels: 159 }, metrics: { 'p@1': 0.62 }, teacherMetrics: null });
    expect(await repo.getModel(id)).toEqual(m);
    expect((await repo.listModels()).map((x) => x.id)).toContain(id);
    expect(await repo.getModel('missing')).toBeNull();
    await repo.finishJob(jobId, 'completed', { modelId: id, progress: 1 });
    expect(await repo.getJob(jobId)).toMatchObject({ modelId: id, status: 'completed' });
  });

  it('records migrations in _prisma_migrations as Prisma does; migrating again is a no-op', async () => {
    const sql = await readFile(join(MIGRATIONS_DIR, '0001_init', 'migration.sql'), 'utf8');
    const rows = await rawQuery(db, 'SELECT * FROM "_prisma_migrations" ORDER BY started_at');
    expect(rows).toHaveLength(MIGRATION_NAMES.length);
    expect(rows[0]).toMatchObject({ migration_name: '0001_init', checksum: migrationChecksum(sql), logs: null, rolled_back_at: null, applied_steps_count: 1 });
    expect(rows[0].checksum).toMatch(/^[0-9a-f]{64}$/);
    expect(rows[0].id).toMatch(/^[0-9a-f-]{36}$/);
    expect(rows[0].finished_at).toBeInstanceOf(Date);
    expect(Object.keys(rows[0]).sort()).toEqual(
      ['applied_steps_count', 'checksum', 'finished_at', 'id', 'logs', 'migration_name', 'rolled_back_at', 'started_at'].sort(),
    );

    expect(await migrate(target(), { schema })).toEqual({ applied: [], skipped: MIGRATION_NAMES });
    expect(await rawQuery(db, 'SELECT * FROM "_prisma_migrations"')).toHaveLength(MIGRATION_NAMES.length);
    await expect(repo.ping()).resolves.toBeUndefined();
  });

  it('refuses an applied migration whose file changed, and rolls back a failing one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'distilxr-migrations-'));
    try {
      await cp(MIGRATIONS_DIR, dir, { recursive: true });
      // A new migration that fails halfway: its first statement must not survive.
      await mkdir(join(dir, '0002_broken'));
      await writeFile(join(dir, '0002_broken', 'migration.sql'), 'CREATE TABLE "half" ("id" INTEGER);\nSELECT no_such_function();\n');
      const err = await migrate(target(), { schema, migrationsDir: dir }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(MigrationFailedError);
      expect((err as Error).message).toContain('0002_broken');
      expect(await rawQuery(db, `SELECT to_regclass('half') AS t`)).toEqual([{ t: null }]);
      expect(await rawQuery(db, 'SELECT migration_name FROM "_prisma_migrations" ORDER BY migration_name')).toEqual(MIGRATION_NAMES.map((n) => ({ migration_name: n })));

      // An applied migration edited afterwards.
      await rm(join(dir, '0002_broken'), { recursive: true });
      await appendFile(join(dir, '0001_init', 'migration.sql'), '\n-- edited\n');
      const err2 = await migrate(target(), { schema, migrationsDir: dir }).catch((e: unknown) => e);
      expect(err2).toBeInstanceOf(MigrationChecksumError);
      expect((err2 as Error).message).toMatch(/0001_init changed after being applied/);
      // CRLF conversion of the same file is not an edit (Prisma tolerates it too).
      const original = await readFile(join(MIGRATIONS_DIR, '0001_init', 'migration.sql'), 'utf8');
      await writeFile(join(dir, '0001_init', 'migration.sql'), original.replaceAll('\n', '\r\n'));
      expect(await migrate(target(), { schema, migrationsDir: dir })).toEqual({ applied: [], skipped: MIGRATION_NAMES });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    await expect(repo.ping()).resolves.toBeUndefined();
  });

  it('data survives closing and reopening (migrations not re-applied)', async () => {
    await db.close();
    db = await backend.open();
    repo = new PrismaRepository(db.prisma);
    expect(await repo.getDataset(datasetId)).toMatchObject({ id: datasetId, stats: stats(1) });
    expect(await rawQuery(db, 'SELECT migration_name FROM "_prisma_migrations" ORDER BY migration_name')).toEqual(MIGRATION_NAMES.map((n) => ({ migration_name: n })));
  });
});

describe('migrate on PostgreSQL', () => {
  it('two processes starting at once apply each migration once', async () => {
    const schema = `t_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
    const { connectionString } = parseDatabaseUrl(PG_URL);
    try {
      // Separate connections, as two processes would have.
      const results = await Promise.all([1, 2, 3].map(() => migrate(connectionString, { schema })));
      expect(results.flatMap((r) => r.applied)).toEqual(MIGRATION_NAMES);
      expect(results.flatMap((r) => r.skipped)).toEqual([...MIGRATION_NAMES, ...MIGRATION_NAMES]);
      const client = new pg.Client({ connectionString });
      await client.connect();
      try {
        const { rows } = await client.query(`SELECT migration_name FROM "${schema}"."_prisma_migrations" ORDER BY migration_name`);
        expect(rows).toEqual(MIGRATION_NAMES.map((n) => ({ migration_name: n })));
        const tables = await client.query(`SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1`, [schema]);
        expect(tables.rows.map((r: { table_name: string }) => r.table_name)).toEqual(['_prisma_migrations', 'datasets', 'install', 'job_events', 'jobs', 'models', 'teachers']);
        // one install id, however many processes migrated at once: they all derive the same queue prefix
        const installs = await client.query(`SELECT count(*)::int AS n FROM "${schema}"."install"`);
        expect(installs.rows[0]).toEqual({ n: 1 });
      } finally {
        await client.end();
      }
    } finally {
      const client = new pg.Client({ connectionString });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await client.end();
    }
  });
});
