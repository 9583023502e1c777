import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CancelledError } from '../src/core/util/errors.js';
import { Rng } from '../src/core/util/rng.js';
import { writeSynth } from '../src/core/data/synth.js';
import { DEFAULT_TRAIN_CONFIG, type TrainConfig } from '../src/core/model/train-config.js';
import { FileCheckpointStore } from '../src/pipeline/checkpoint.js';
import { EF_CANDIDATES } from '../src/ann/ef-search.js';
import { encodePoints } from '../src/ann/neighbour-blend.js';
import { dedupePoints } from '../src/ann/point-dedupe.js';
import { loadTrainTest } from '../src/core/data/load-dataset.js';
import { propensitiesFromCounts } from '../src/core/model/metrics.js';
import { evaluateStudent } from '../src/pipeline/evaluate.js';
import { loadModel } from '../src/pipeline/model-dir.js';
import { runTrainJob } from '../src/pipeline/train-job.js';
import { exportSparseEncoderOnnx } from '../src/teacher/onnx-export.js';

describe('runTrainJob', () => {
  let dir: string;
  let files: { train: string; test: string };
  let teacherPath: string;
  // threads 1: the deterministic mode, so a resumed run can be compared bit for bit
  const config: TrainConfig = { ...DEFAULT_TRAIN_CONFIG, dim: 16, epochs: 6, remineEvery: 2, poolSize: 12, hardNegatives: 6, alpha: 0.5, threads: 1 };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'distilxr-job-'));
    files = await writeSynth(join(dir, 'data'), { points: 1500, testPoints: 300, features: 400, labels: 60, seed: 3 });
    // A random ONNX teacher (its quality is beside the point here: resumption is).
    const rng = new Rng(9);
    const W1 = Float32Array.from({ length: 400 * 8 }, () => rng.normal());
    const table = Float32Array.from({ length: 60 * 8 }, () => rng.normal());
    teacherPath = join(dir, 'teacher.onnx');
    await writeFile(teacherPath, exportSparseEncoderOnnx({ inputDim: 400, hiddenDim: 8, W1, labelTable: table, numLabels: 60, output: 'scores' }));
  });

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('resumes a cancelled job from its checkpoint and ends exactly where an uninterrupted run ends', async () => {
    const base = { trainPath: files.train, testPath: files.test, teacherPath, config, cacheDir: false as const };
    const straight = await runTrainJob({ ...base, outDir: join(dir, 'straight') });

    const store = new FileCheckpointStore(join(dir, 'ckpt', 'state.bin'));
    let batches = 0;
    // stop in the middle of epoch 4 (after a re-mining), as a killed worker would
    const stopAt = Math.ceil(1500 / config.batchSize) * 3 + 5;
    const first = runTrainJob({ ...base, outDir: join(dir, 'resumed'), checkpoints: store, shouldStop: () => ++batches > stopAt });
    await expect(first).rejects.toBeInstanceOf(CancelledError);
    expect(await store.load()).not.toBeNull();

    const logs: string[] = [];
    const resumed = await runTrainJob(
      { ...base, outDir: join(dir, 'resumed'), checkpoints: store },
      { stage: () => undefined, progress: () => undefined, epoch: () => undefined, log: (m) => logs.push(m) },
    );
    expect(logs.some((m) => /resumed from checkpoint after epoch 3/.test(m))).toBe(true);
    expect(resumed.epochs.map((e) => e.epoch)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(resumed.metrics).toEqual(straight.metrics);
    const a = await readFile(join(dir, 'straight', 'weights.safetensors'));
    const b = await readFile(join(dir, 'resumed', 'weights.safetensors'));
    expect(a.equals(b)).toBe(true);
    // the restored score cache spares every pair scored before the checkpoint: no pair is scored twice
    expect(resumed.pairsScored).toBe(straight.pairsScored);
  });

  it('learns the planted structure and publishes a loadable model', async () => {
    const r = await runTrainJob({ trainPath: files.train, testPath: files.test, config: { ...config, alpha: 0 }, outDir: join(dir, 'plain'), cacheDir: false });
    expect(r.metrics!['p@1']).toBeGreaterThan(0.3); // 60 labels: chance ≈ 0.05
    const model = await loadModel(join(dir, 'plain'));
    expect(model.student.shape.numLabels).toBe(60);
    expect(model.config.metrics).toEqual(r.metrics);
    expect(EF_CANDIDATES).toContain(r.efSearch); // chosen for the index (hnswRecallTarget) and published
    expect(model.config.hnsw.efSearch).toBe(r.efSearch);
    // the label index is built with its own efConstruction (labelIndexEfConstruction), the points' with
    // pointIndexEfConstruction, in 8 bits searched by cosine (int8PointIndex)
    const sidecarOf = async (name: string): Promise<Record<string, unknown>> => JSON.parse(await readFile(join(dir, 'plain', `${name}.json`), 'utf8'));
    expect((await sidecarOf('index.hnsw')).efConstruction).toBe(DEFAULT_TRAIN_CONFIG.labelIndexEfConstruction);
    expect(model.config.hnsw.efConstruction).toBe(DEFAULT_TRAIN_CONFIG.labelIndexEfConstruction);
    expect(await sidecarOf('points.usearch')).toMatchObject({ efConstruction: DEFAULT_TRAIN_CONFIG.pointIndexEfConstruction, library: 'usearch', scalar: 'i8', space: 'cos' });

    // the neighbour component is published (the default β > 0) and a loaded model ranks as the job did
    // its points: the 1,500 training rows but those within pointDedupe's cosine of an earlier one of their label set
    const { train, test } = await loadTrainTest(files.train, files.test, { cacheDir: false });
    const kept = dedupePoints(encodePoints(model.student, train.features), model.student.shape.dim, train.labels, DEFAULT_TRAIN_CONFIG.pointDedupe);
    expect(kept.length).toBeGreaterThan(1400);
    expect(model.neighbours?.index.count).toBe(kept.length);
    expect(model.neighbours?.pointLabels.rows).toBe(kept.length);
    expect(model.neighbours?.settings).toEqual({ neighbours: 50, weight: 0.5, voteTemperature: 0.1 });
    const propensities = propensitiesFromCounts(model.labelCounts, train.features.rows, 60);
    expect((await evaluateStudent(model.student, test!, propensities, model.index, model.neighbours)).hnsw).toEqual(r.hnswMetrics);
    const alone = (await evaluateStudent(model.student, test!, propensities, model.index, null)).hnsw!;
    expect(alone['p@1']).not.toBe(r.hnswMetrics!['p@1']); // the vote changes the ranking

    // off: no neighbour index in the directory
    await runTrainJob({ trainPath: files.train, config: { ...config, alpha: 0, epochs: 1, neighbours: 0, labelIndexEfConstruction: 50 }, outDir: join(dir, 'no-neighbours'), cacheDir: false });
    expect(JSON.parse(await readFile(join(dir, 'no-neighbours', 'index.hnsw.json'), 'utf8')).efConstruction).toBe(50);
    expect((await loadModel(join(dir, 'no-neighbours'))).neighbours).toBeNull();
    expect(existsSync(join(dir, 'no-neighbours', 'points.usearch'))).toBe(false);

    // the index is checked against its sidecar, and the sidecar against checksums.json
    const indexPath = join(dir, 'plain', 'index.hnsw');
    const flipped = await readFile(indexPath);
    flipped[flipped.length >> 1] ^= 0x20;
    await writeFile(indexPath, flipped);
    await expect(loadModel(join(dir, 'plain'))).rejects.toThrow(`${indexPath}: sha256 `);
    // a sidecar rewritten to match the replaced index is caught by checksums.json
    const sidecarPath = `${indexPath}.json`;
    const sidecar = JSON.parse(await readFile(sidecarPath, 'utf8'));
    await writeFile(sidecarPath, JSON.stringify({ ...sidecar, sha256: createHash('sha256').update(flipped).digest('hex') }));
    await expect(loadModel(join(dir, 'plain'))).rejects.toThrow(new RegExp(`^${sidecarPath.replaceAll('.', '\\.')}: sha256 [0-9a-f]{64} does not match [0-9a-f]{64} recorded in .*checksums\\.json`));
  });

  it('refuses a model directory of another format version, saying what to do', async () => {
    const out = join(dir, 'old');
    await runTrainJob({ trainPath: files.train, config: { ...config, alpha: 0, epochs: 1 }, outDir: out, cacheDir: false });
    const configPath = join(out, 'config.json');
    const old = { ...JSON.parse(await readFile(configPath, 'utf8')), version: 1 };
    const text = JSON.stringify(old);
    await writeFile(configPath, text);
    const sums = JSON.parse(await readFile(join(out, 'checksums.json'), 'utf8'));
    sums.files['config.json'] = createHash('sha256').update(text).digest('hex');
    await writeFile(join(out, 'checksums.json'), JSON.stringify(sums));
    await expect(loadModel(out)).rejects.toThrow(`${configPath}: model format version 1, this distilxr reads versions 4 and 5 only: train the model again`);
    // a version 4 model (its points index in half floats, as this job's with --no-int8-point-index) is read
    const v4 = join(dir, 'v4');
    await runTrainJob({ trainPath: files.train, config: { ...config, alpha: 0, epochs: 1, int8PointIndex: false }, outDir: v4, cacheDir: false });
    const v4Config = join(v4, 'config.json');
    const v4Text = JSON.stringify({ ...JSON.parse(await readFile(v4Config, 'utf8')), version: 4 });
    await writeFile(v4Config, v4Text);
    const v4Sums = JSON.parse(await readFile(join(v4, 'checksums.json'), 'utf8'));
    v4Sums.files['config.json'] = createHash('sha256').update(v4Text).digest('hex');
    await writeFile(join(v4, 'checksums.json'), JSON.stringify(v4Sums));
    expect((await loadModel(v4)).config.version).toBe(4);
  });

  it('refuses invalid settings before doing any work', async () => {
    await expect(runTrainJob({ trainPath: files.train, config: { ...config, alpha: 2, dim: 0 } })).rejects.toThrow(/dim must be .*alpha must be in \[0, 1\], got 2/);
  });
});
