/**
 * A text teacher's scoring spread over worker processes: each worker's chunk thread unpacks the
 * stored bundle and binds it to the job's training texts and label names, as the job does. With
 * the committed cross-encoder (work per pair) and classifier (work per row), against the same job
 * scored in-process: weights byte for byte, the same losses and pairs scored. Bit-identity holds
 * because a row's output does not depend on the batch it runs in: padding is masked out, and ONNX
 * Runtime's CPU kernels compute each row alike whatever the batch (a chunk's rows are batched by
 * length among themselves, not with the whole call's).
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runTrainJob } from '../src/pipeline/train-job.js';
import { BullJobQueue, redisConnectionFromUrl } from '../src/infra/queue/bull-job-queue.js';
import { openDatabase, type Database } from '../src/infra/db/db.js';
import { FsArtifactStore } from '../src/infra/artifacts/fs-artifact-store.js';
import { PrismaRepository } from '../src/infra/db/prisma-repository.js';
import { trainConfigOf } from '../src/worker/job-task.js';
import type { ScoreChunkJob } from '../src/worker/score-children.js';
import { ofType, submit, waitFinalEvent } from './support/jobs.js';
import { BUNDLES, MINI, addTextMini, addTextTeacher } from './support/text-bundles.js';
import { spawnWorker, type WorkerChild } from './support/worker-process.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const PG_URL = process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/test';

/** text-mini's 299 rows: a chunk per 32-row batch (a transformer run counts as TEXT_RUN_WORK pairs), about ten per call. */
const SHARD_PAIRS = 500;
/** Re-mining before epoch 2: a second pool, whose new pairs fan out again. */
const PARAMS = { dim: 16, epochs: 2, remineEvery: 1, poolSize: 16, hardNegatives: 4, alpha: 0.5, threads: 1 };

describe('a text teacher\'s scoring fanned out to worker processes', () => {
  const schema = `score_fan_out_text_${randomUUID().slice(0, 8)}`;
  const databaseUrl = `${PG_URL}?schema=${schema}`;
  const prefix = `sfot-${randomUUID().slice(0, 8)}`;
  let dataDir: string;
  let db: Database;
  let repo: PrismaRepository;
  let store: FsArtifactStore;
  let queue: BullJobQueue;
  let scores: Queue<ScoreChunkJob>;
  let datasetId: string;
  let workers: WorkerChild[] = [];
  const takers = new Set<string>();

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'distilxr-fan-out-text-'));
    db = await openDatabase({ databaseUrl, dataDir });
    const env = { DATA_DIR: dataDir, DATABASE_URL: databaseUrl, REDIS_URL, REDIS_PREFIX: prefix, WORKER_CONCURRENCY: '1', WORKER_SCORE_SHARD_PAIRS: String(SHARD_PAIRS) };
    workers = [spawnWorker(env), spawnWorker(env)];
    repo = new PrismaRepository(db.prisma);
    store = new FsArtifactStore(join(dataDir, 'artifacts'));
    queue = new BullJobQueue(redisConnectionFromUrl(REDIS_URL), { prefix });
    scores = new Queue<ScoreChunkJob>(`${queue.name}-scores`, { connection: redisConnectionFromUrl(REDIS_URL), prefix });
    datasetId = await addTextMini(repo, store);
    for (const w of workers) await w.ready();
  }, 120_000);

  afterAll(async () => {
    for (const w of workers) await w.kill();
    await queue?.queue.obliterate({ force: true });
    await scores?.obliterate({ force: true });
    await queue?.close();
    await scores?.close();
    await db?.prisma.$executeRawUnsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await db?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it.each(['cross-encoder', 'classifier'] as const)('%s: fans out, and equals the in-process run bit for bit', async (kind) => {
    const baseDir = join(dataDir, `baseline-${kind}`);
    const baseline = await runTrainJob({ trainPath: join(MINI, 'train.jsonl'), testPath: join(MINI, 'test.jsonl'), teacherPath: join(BUNDLES, kind), outDir: baseDir, config: trainConfigOf(PARAMS, true), cacheDir: false });
    const teacherId = await addTextTeacher(repo, store, kind);
    const id = await submit(repo, queue, { datasetId, teacherId, params: PARAMS });
    const seen = new Set<string>();
    const output = () => workers.map((w) => w.output()).join('\n');
    const done = waitFinalEvent(repo, id, 90_000).catch((e: Error) => {
      throw new Error(`${e.message}\n${output()}`);
    });
    while (!(await repo.getJob(id))?.finishedAt) {
      for (const j of await scores.getActive()) {
        seen.add(j.id!);
        if (j.processedBy) takers.add(j.processedBy);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    const job = await done;
    expect(job.status, output()).toBe('completed');
    expect(seen.size, 'chunks ran as children').toBeGreaterThan(4);
    const events = await repo.listJobEvents(id);
    const [metrics] = ofType(events, 'metrics');
    expect(metrics.pairsScored, 'every pair scored once').toBe(baseline.pairsScored);
    expect(ofType(events, 'epoch').map((d) => [d.epoch, d.loss, d.kl])).toEqual(baseline.epochs.map((e) => [e.epoch, e.loss, e.kl]));
    const model = (await repo.getModel(job.modelId!))!;
    const weights = await readFile(join(store.pathOf(model.key), 'weights.safetensors'));
    expect(weights.equals(await readFile(join(baseDir, 'weights.safetensors'))), 'weights equal the in-process run').toBe(true);
  }, 120_000);

  it('both workers took chunks', () => {
    expect(takers.size).toBe(2);
  });
});
