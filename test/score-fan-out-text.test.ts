/**
 * A text teacher's scoring spread over worker processes: each worker's chunk thread unpacks the
 * stored bundle and binds it to the job's training texts and label names, as the job does. With
 * the committed cross-encoder (a run per pair), classifier and bi-encoder (a run per row), against the same job
 * scored in-process: weights byte for byte, the same losses and pairs scored. Bit-identity holds
 * because a row's output does not depend on the batch it runs in: padding is masked out, and ONNX
 * Runtime's CPU kernels compute each row alike whatever the batch (a chunk's rows are batched by
 * length among themselves, not with the whole call's).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runTrainJob } from '../src/pipeline/train-job.js';
import { trainConfigOf } from '../src/worker/job-task.js';
import { closeFanOutEnv, openFanOutEnv, watchChunks, type FanOutEnv } from './support/fan-out-env.js';
import { ofType, submit, waitFinalEvent } from './support/jobs.js';
import { BUNDLES, MINI, addTextMini, addTextTeacher } from './support/text-bundles.js';
import { spawnWorker, type WorkerChild } from './support/worker-process.js';

/** text-mini's 299 rows: a chunk per 32-row batch (a transformer run counts as TEXT_RUN_WORK pairs), about ten per call. */
const SHARD_PAIRS = 500;
/** Re-mining before epoch 2: a second pool, whose new pairs fan out again. */
const PARAMS = { dim: 16, epochs: 2, remineEvery: 1, poolSize: 16, hardNegatives: 4, alpha: 0.5, threads: 1 };

describe('a text teacher\'s scoring fanned out to worker processes', () => {
  let env: FanOutEnv;
  let datasetId: string;
  let workers: WorkerChild[] = [];
  const takers = new Set<string>();

  beforeAll(async () => {
    env = await openFanOutEnv('sfot', SHARD_PAIRS);
    workers = [spawnWorker(env.workerEnv), spawnWorker(env.workerEnv)];
    datasetId = await addTextMini(env.repo, env.store);
    for (const w of workers) await w.ready();
  }, 120_000);

  afterAll(async () => {
    for (const w of workers) await w.kill();
    await closeFanOutEnv(env);
  });

  it.each(['cross-encoder', 'classifier', 'bi-encoder'] as const)('%s: fans out, and equals the in-process run bit for bit', async (kind) => {
    const baseDir = join(env.dataDir, `baseline-${kind}`);
    const baseline = await runTrainJob({ trainPath: join(MINI, 'train.jsonl'), testPath: join(MINI, 'test.jsonl'), teacherPath: join(BUNDLES, kind), outDir: baseDir, config: trainConfigOf(PARAMS, true), cacheDir: false });
    const { repo, store, queue } = env;
    const teacherId = await addTextTeacher(repo, store, join(BUNDLES, kind));
    const id = await submit(repo, queue, { datasetId, teacherId, params: PARAMS });
    const output = () => workers.map((w) => w.output()).join('\n');
    const done = waitFinalEvent(repo, id, 90_000).catch((e: Error) => {
      throw new Error(`${e.message}\n${output()}`);
    });
    const { children, takers: held } = await watchChunks(env, id);
    for (const t of held) takers.add(t);
    const job = await done;
    expect(job.status, output()).toBe('completed');
    expect(children.size, 'chunks ran as children').toBeGreaterThan(4);
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
