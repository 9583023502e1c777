/**
 * Shared by the scoring fan-out tests: a database schema, a Redis key prefix and an artifact store
 * of their own, the job queue and the scores queue whose children the workers take, and the
 * environment of worker processes that fan out (WORKER_SCORE_SHARD_PAIRS).
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { FsArtifactStore } from '../../src/infra/artifacts/fs-artifact-store.js';
import { openDatabase, type Database } from '../../src/infra/db/db.js';
import { PrismaRepository } from '../../src/infra/db/prisma-repository.js';
import { BullJobQueue, redisConnectionFromUrl } from '../../src/infra/queue/bull-job-queue.js';
import type { ScoreChunkJob } from '../../src/worker/score-children.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const PG_URL = process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/test';

export interface FanOutEnv {
  dataDir: string;
  db: Database;
  repo: PrismaRepository;
  store: FsArtifactStore;
  queue: BullJobQueue;
  scores: Queue<ScoreChunkJob>;
  /** What a worker process of this environment runs with: one job at a time, chunks of shardPairs. */
  workerEnv: Record<string, string>;
}

export async function openFanOutEnv(name: string, shardPairs: number): Promise<FanOutEnv> {
  const tag = randomUUID().slice(0, 8);
  const databaseUrl = `${PG_URL}?schema=${name.replace(/-/g, '_')}_${tag}`;
  const prefix = `${name}-${tag}`;
  const dataDir = await mkdtemp(join(tmpdir(), `distilxr-${name}-`));
  const db = await openDatabase({ databaseUrl, dataDir });
  const queue = new BullJobQueue(redisConnectionFromUrl(REDIS_URL), { prefix });
  return {
    dataDir,
    db,
    repo: new PrismaRepository(db.prisma),
    store: new FsArtifactStore(join(dataDir, 'artifacts')),
    queue,
    scores: new Queue<ScoreChunkJob>(`${queue.name}-scores`, { connection: redisConnectionFromUrl(REDIS_URL), prefix }),
    workerEnv: { DATA_DIR: dataDir, DATABASE_URL: databaseUrl, REDIS_URL, REDIS_PREFIX: prefix, WORKER_CONCURRENCY: '1', WORKER_SCORE_SHARD_PAIRS: String(shardPairs) },
  };
}

/** Empties both queues and drops the schema and the files (the workers are the caller's to stop first). */
export async function closeFanOutEnv(env: FanOutEnv | undefined): Promise<void> {
  if (!env) return;
  await env.queue.queue.obliterate({ force: true });
  await env.scores.obliterate({ force: true });
  await env.queue.close();
  await env.scores.close();
  const schema = new URL(env.workerEnv.DATABASE_URL).searchParams.get('schema');
  await env.db.prisma.$executeRawUnsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await env.db.close();
  await rm(env.dataDir, { recursive: true, force: true });
}

/** The score chunks of job `id` seen running, and the workers that held them, until the job ends (polled every `everyMs`). */
export async function watchChunks(env: FanOutEnv, id: string, everyMs = 10): Promise<{ children: Set<string>; takers: Set<string> }> {
  const children = new Set<string>();
  const takers = new Set<string>();
  while (!(await env.repo.getJob(id))?.finishedAt) {
    for (const j of await env.scores.getActive()) {
      if (j.data.jobId !== id) continue;
      children.add(j.id!);
      if (j.processedBy) takers.add(j.processedBy);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  return { children, takers };
}
