/**
 * Worker crashes: a worker process is SIGKILLed in each stage of a distillation job (mining,
 * scoring, training, publishing) and another worker process takes the job over. Resumption from
 * a checkpoint is bit-identical to an uninterrupted run with the same seed, so the finished job's
 * metrics, epoch history and published weights must equal those of an undisturbed run exactly.
 *
 * Worker child processes on PostgreSQL (PGlite allows one process per data directory), on the
 * shared Redis under a key prefix of their own. The scoring, training and re-mining kills come
 * from this test, which watches the job's events and kills the process as the stage starts (the
 * data is sized so these stages last a few hundred milliseconds or more); publishing takes
 * milliseconds, so that kill comes from the worker itself: test/support/sigkill-worker.ts, a worker
 * with a pipeline-event hook injected, aimed at one job id (DISTILXR_TEST_SIGKILL_AT_STAGE) so every
 * worker can carry it.
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../src/core/util/rng.js';
import type { EpochStats } from '../src/core/model/trainer.js';
import { readCheckpointSummary, type CheckpointSummary } from '../src/pipeline/checkpoint.js';
import { runTrainJob, type TrainJobResult } from '../src/pipeline/train-job.js';
import { BullJobQueue, redisConnectionFromUrl } from '../src/infra/queue/bull-job-queue.js';
import { openDatabase, type Database } from '../src/infra/db/db.js';
import { FsArtifactStore } from '../src/infra/artifacts/fs-artifact-store.js';
import { PrismaRepository } from '../src/infra/db/prisma-repository.js';
import type { JobEventRecord } from '../src/infra/records.js';
import { exportSparseEncoderOnnx } from '../src/teacher/onnx-export.js';
import { checkpointKey, trainConfigOf } from '../src/worker/job-task.js';
import { addDataset, ofType, submit, waitFinalEvent, waitFor } from './support/jobs.js';
import { spawnWorker, type WorkerChild } from './support/worker-process.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const PG_URL = process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/test';

const DATA = { points: 6000, testPoints: 400, features: 1000, labels: 200, seed: 11 };
const TEACHER_HIDDEN = 32;
/**
 * Stages: preparing, mining, scoring, training ×3, mining, scoring, training, evaluating, publishing.
 * One thread: resumption is compared bit for bit with the undisturbed run.
 */
const PARAMS = { dim: 16, epochs: 4, remineEvery: 3, poolSize: 24, hardNegatives: 8, alpha: 0.5, threads: 1 };

/** What is compared with the undisturbed run (seconds and speed differ run to run). */
const epochFacts = (e: Record<string, unknown> | EpochStats): Record<string, unknown> => ({ epoch: e.epoch, loss: e.loss, ce: e.ce, kl: e.kl, examples: e.examples });

const jobMetricsOf = (r: TrainJobResult): Record<string, unknown> =>
  JSON.parse(JSON.stringify({ ...r.metrics, hnsw: r.hnswMetrics ?? null, hnswRecallAt10: r.hnswRecallAt10 ?? null, teacher: r.teacherMetrics ?? null })) as Record<string, unknown>;

describe('a worker killed with SIGKILL in each stage (PostgreSQL, worker processes)', () => {
  const schema = `faults_worker_${randomUUID().slice(0, 8)}`;
  const databaseUrl = `${PG_URL}?schema=${schema}`;
  const prefix = `fw-${randomUUID().slice(0, 8)}`;
  let dataDir: string;
  let db: Database;
  let repo: PrismaRepository;
  let store: FsArtifactStore;
  let queue: BullJobQueue;
  let datasetId: string;
  let teacherId: string;
  let baseline: TrainJobResult;
  let baselineWeights: Buffer;
  let baselineMetrics: Record<string, unknown>;
  /** Two live workers, ready for the next scenario. */
  let pool: WorkerChild[] = [];
  const all: WorkerChild[] = [];

  /** The job whose first attempt kills its worker when it starts publishing. */
  const killedInPublishing = randomUUID();
  const startWorker = (): WorkerChild => {
    const w = spawnWorker({
      DATA_DIR: dataDir,
      DATABASE_URL: databaseUrl,
      REDIS_URL,
      REDIS_PREFIX: prefix,
      WORKER_LOCK_MS: '1500',
      WORKER_CONCURRENCY: '1',
      DISTILXR_TEST_SIGKILL_AT_STAGE: `${killedInPublishing}:publishing`,
    }, 'test/support/sigkill-worker.ts');
    all.push(w);
    return w;
  };

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'distilxr-faults-worker-'));
    db = await openDatabase({ databaseUrl, dataDir });
    // the workers start (on the migrated schema) while the data and the reference run are prepared
    pool = [startWorker(), startWorker()];
    repo = new PrismaRepository(db.prisma);
    store = new FsArtifactStore(join(dataDir, 'artifacts'));
    queue = new BullJobQueue(redisConnectionFromUrl(REDIS_URL), { prefix });
    datasetId = await addDataset(repo, store, DATA);

    // a random ONNX teacher: its quality is beside the point, bit-identical resumption is
    const rng = new Rng(5);
    const W1 = Float32Array.from({ length: DATA.features * TEACHER_HIDDEN }, () => rng.normal());
    const table = Float32Array.from({ length: DATA.labels * TEACHER_HIDDEN }, () => rng.normal());
    const onnx = exportSparseEncoderOnnx({ inputDim: DATA.features, hiddenDim: TEACHER_HIDDEN, W1, labelTable: table, numLabels: DATA.labels, output: 'scores' });
    teacherId = randomUUID();
    const teacherKey = `teachers/${teacherId}/teacher.onnx`;
    await store.putBytes(teacherKey, onnx);
    await repo.createTeacher({ id: teacherId, name: 'random', key: teacherKey, kind: 'scores', numLabels: DATA.labels, sizeBytes: onnx.length, jobId: null, datasetId: null, metrics: null });

    // the undisturbed run: the same pipeline, settings and seed, in this process
    const ds = (await repo.getDataset(datasetId))!;
    const baseDir = join(dataDir, 'baseline');
    baseline = await runTrainJob({
      trainPath: store.pathOf(ds.trainKey),
      testPath: store.pathOf(ds.testKey!),
      teacherPath: store.pathOf(teacherKey),
      outDir: baseDir,
      config: trainConfigOf(PARAMS, true),
      cacheDir: false,
    });
    baselineWeights = await readFile(join(baseDir, 'weights.safetensors'));
    baselineMetrics = jobMetricsOf(baseline);
    for (const w of pool) await w.ready();
  }, 120_000);

  afterAll(async () => {
    for (const w of all) await w.kill();
    await queue?.queue.obliterate({ force: true });
    await queue?.close();
    await db?.prisma.$executeRawUnsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await db?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  interface Crash {
    /** Events when the worker died. */
    before: JobEventRecord[];
    /** The checkpoint the dead worker left. */
    saved: CheckpointSummary | null;
    /** Events of the run that finished the job. */
    after: JobEventRecord[];
    survivor: WorkerChild;
  }

  /**
   * Submits a job to the pool of two workers; the worker that takes it is SIGKILLed by this test
   * as soon as `killWhen` holds for the job's events, or kills itself (the hooked job). Then waits
   * for the other worker to finish the job.
   */
  async function crashJob(opts: { id?: string; killWhen?: (events: JobEventRecord[]) => boolean }): Promise<{ id: string; crash: Crash }> {
    const workers = pool;
    const id = await submit(repo, queue, { id: opts.id, datasetId, teacherId, params: PARAMS });
    let taker: WorkerChild | undefined;
    const before = await waitFor(
      'the moment to kill',
      async () => {
        const events = await repo.listJobEvents(id);
        const running = events.find((e) => e.type === 'status' && e.data.status === 'running');
        taker = workers.find((w) => w.name === running?.data.worker);
        if (!taker) return null;
        if (opts.killWhen) return opts.killWhen(events) ? events : null;
        return taker.child.signalCode === 'SIGKILL' ? events : null;
      },
      60_000,
      20,
    );
    await taker!.kill();
    const saved = await readCheckpointSummary(store.pathOf(checkpointKey(id)));
    const survivor = workers.find((w) => w !== taker)!;
    // a replacement starts while the survivor (or the replacement) finishes the job
    pool = [survivor, startWorker()];
    return { id, crash: await finish(id, before, saved, survivor) };
  }

  async function finish(id: string, before: JobEventRecord[], saved: CheckpointSummary | null, survivor: WorkerChild): Promise<Crash> {
    expect((await repo.getJob(id))!.status, 'the dead worker could not say anything').toBe('running');
    const job = await waitFinalEvent(repo, id, 60_000).catch((e: Error) => {
      throw new Error(`${e.message}\n${survivor.output()}`);
    });
    expect(job.status, survivor.output()).toBe('completed');
    const events = await repo.listJobEvents(id);
    const second = events.findIndex((e, i) => i > 0 && e.type === 'status' && e.data.status === 'running');
    expect(second, 'a second run started').toBeGreaterThan(0);
    // the survivor, or the replacement if it was ready first when the dead worker's lock expired
    expect(pool.map((w) => w.name)).toContain(events[second].data.worker);
    return { before, saved, after: events.slice(second), survivor };
  }

  /** Nothing lost, nothing done twice, and the result equal to the undisturbed run's. */
  async function expectSameAsUndisturbed(id: string): Promise<void> {
    const job = (await repo.getJob(id))!;
    expect(job).toMatchObject({ status: 'completed', attempts: 2, error: null, progress: 1 });
    expect(job.metrics).toEqual(baselineMetrics);

    const events = await repo.listJobEvents(id);
    expect(ofType(events, 'status').map((d) => d.status)).toEqual(['running', 'running', 'completed']);
    // the metrics history: every epoch exactly once, each as the undisturbed run had it
    const epochs = ofType(events, 'epoch');
    expect(epochs.map((d) => d.epoch)).toEqual([1, 2, 3, 4]);
    expect(epochs.map(epochFacts)).toEqual(baseline.epochs.map(epochFacts));
    expect(ofType(events, 'metrics')).toHaveLength(1);
    expect(events.at(-1)!.data).toEqual({ status: 'completed' });

    const model = (await repo.getModel(job.modelId!))!;
    expect(model).toMatchObject({ jobId: id, datasetId, teacherId, key: `models/${job.modelId}`, config: trainConfigOf(PARAMS, true) });
    expect((await readFile(join(store.pathOf(model.key), 'weights.safetensors'))).equals(baselineWeights), 'published weights equal the undisturbed run').toBe(true);
    // no half-published model left next to it
    expect((await readdir(store.pathOf('models'))).filter((n) => n.includes('.tmp-'))).toEqual([]);
    await waitFor('the checkpoint to be removed', async () => !existsSync(store.pathOf(checkpointKey(id))), 5_000);
  }

  const stagesOf = (events: JobEventRecord[]): unknown[] => ofType(events, 'stage').map((d) => d.stage);
  const resumeLog = (events: JobEventRecord[]): string | undefined =>
    ofType(events, 'log')
      .map((d) => String(d.message))
      .find((m) => m.startsWith('resumed from checkpoint'));

  it('in scoring: the next worker resumes from the mined pool, scores it, and does not mine again', async () => {
    const { id, crash } = await crashJob({ killWhen: (events) => stagesOf(events).at(-1) === 'scoring' });
    expect(stagesOf(crash.before)).toEqual(['preparing', 'mining', 'scoring']);
    expect(crash.saved, 'the pool was saved once mined').toMatchObject({ epochsDone: 0, poolMinedForEpoch: 1, poolScored: false });
    expect(resumeLog(crash.after)).toBe('resumed from checkpoint after epoch 0 with the pool mined before epoch 1, not scored yet');
    expect(stagesOf(crash.after)).toEqual(['preparing', 'scoring', 'training', 'mining', 'scoring', 'training', 'evaluating', 'publishing']);
    await expectSameAsUndisturbed(id);
  });

  it('in training: the next worker resumes after the last finished epoch', async () => {
    const { id, crash } = await crashJob({ killWhen: (events) => ofType(events, 'epoch').length >= 1 });
    expect(stagesOf(crash.before).at(-1)).toBe('training');
    expect(ofType(crash.before, 'epoch').map((d) => d.epoch)).toEqual([1]);
    const k = crash.saved!.epochsDone; // 1, or 2 if epoch 2 ended as the signal landed
    expect(k === 1 || k === 2, `killed in epoch 2 or 3, not after (checkpoint after epoch ${k})`).toBe(true);
    expect(resumeLog(crash.after)).toBe(`resumed from checkpoint after epoch ${k}`);
    // only the epochs after the checkpoint are trained again
    const trained = ofType(crash.after, 'epoch').filter((d) => !d.fromCheckpoint).map((d) => d.epoch);
    expect(trained).toEqual(Array.from({ length: 4 - k }, (_, i) => k + 1 + i));
    expect(stagesOf(crash.after)).toEqual(['preparing', 'training', 'mining', 'scoring', 'training', 'evaluating', 'publishing']);
    await expectSameAsUndisturbed(id);
  });

  it('in mining (re-mining before epoch 4): the next worker resumes after epoch 3 and mines again', async () => {
    const { id, crash } = await crashJob({ killWhen: (events) => stagesOf(events).filter((s) => s === 'mining').length === 2 });
    expect(stagesOf(crash.before)).toEqual(['preparing', 'mining', 'scoring', 'training', 'mining']);
    expect(crash.saved, 'the checkpoint of epoch 3, before the new pool').toMatchObject({ epochsDone: 3, poolMinedForEpoch: 1, poolScored: true });
    expect(resumeLog(crash.after)).toBe('resumed from checkpoint after epoch 3');
    expect(stagesOf(crash.after)).toEqual(['preparing', 'mining', 'scoring', 'training', 'evaluating', 'publishing']);
    expect(ofType(crash.after, 'epoch').map((d) => d.epoch)).toEqual([4]);
    await expectSameAsUndisturbed(id);
  });

  it('in publishing: the next worker evaluates and publishes again from the last epoch checkpoint', async () => {
    const { id, crash } = await crashJob({ id: killedInPublishing });
    expect(stagesOf(crash.before).at(-1)).toBe('publishing');
    expect(ofType(crash.before, 'metrics')).toEqual([]);
    expect(crash.saved).toMatchObject({ epochsDone: 4 });
    expect(resumeLog(crash.after)).toBe('resumed from checkpoint after epoch 4');
    expect(stagesOf(crash.after)).toEqual(['preparing', 'evaluating', 'publishing']);
    expect(ofType(crash.after, 'epoch')).toEqual([]);
    await expectSameAsUndisturbed(id);
    // the survivors shut down cleanly on SIGTERM
    for (const w of pool) await w.ready();
    expect(await Promise.all(pool.map((w) => w.stop()))).toEqual(pool.map(() => 0));
  });
});
