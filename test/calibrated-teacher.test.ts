/**
 * A teacher's calibration temperature, from ONNX metadata to the scores distillation sees:
 * written by export (or added to any model), read by the contract check, exposed by the teacher
 * classes, and divided out before the trainer (unless teacherCalibration is off), with
 * checkpoints that never mix raw and calibrated scores.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ContractError, UsageError } from '../src/core/util/errors.js';
import { loadDataset } from '../src/core/data/load-dataset.js';
import { Rng } from '../src/core/util/rng.js';
import { decodeSafetensors } from '../src/core/model/safetensors.js';
import { Student } from '../src/core/model/student.js';
import { writeSynth } from '../src/core/data/synth.js';
import { DEFAULT_TRAIN_CONFIG, studentShapeOf, validateTrainConfig, type TrainConfig } from '../src/core/model/train-config.js';
import { StudentTrainer } from '../src/core/model/trainer.js';
import { encodeTrainState, FileCheckpointStore, restoreTrainState, type CheckpointStore } from '../src/pipeline/checkpoint.js';
import { poolAsCsr } from '../src/pipeline/score.js';
import { runTrainJob } from '../src/pipeline/train-job.js';
import { checkTeacherContract } from '../src/teacher/contract.js';
import { FoldedTeacher } from '../src/teacher/folded-teacher.js';
import { FOLDS_FORMAT, foldsManifestPath, labelsFingerprint, type FoldsManifest } from '../src/teacher/folds.js';
import { exportSparseEncoderOnnx, TEMPERATURE_KEY, withTemperature, type SparseEncoderModel } from '../src/teacher/onnx-export.js';
import { decodeModel, encodeModel, setMetadataProps } from '../src/core/util/onnx-proto.js';
import { OnnxTeacher } from '../src/teacher/onnx-teacher.js';

const D = 120;
const L = 30;
const H = 6;
const T = 2.5;

function randomTeacher(seed: number, output: 'scores' | 'logits' = 'scores'): SparseEncoderModel {
  const rng = new Rng(seed);
  return {
    inputDim: D,
    hiddenDim: H,
    W1: Float32Array.from({ length: D * H }, () => rng.normal()),
    labelTable: Float32Array.from({ length: L * H }, () => rng.normal()),
    numLabels: L,
    output,
  };
}

const plainBytes = exportSparseEncoderOnnx(randomTeacher(1));
const calibratedBytes = exportSparseEncoderOnnx({ ...randomTeacher(1), temperature: T });

/** The model with metadata entry TEMPERATURE_KEY = value, however malformed. */
const withRawTemperature = (value: string): Uint8Array => setMetadataProps(plainBytes, { [TEMPERATURE_KEY]: value });

describe('temperature in the ONNX metadata', () => {
  it('is written by export, read by the contract check and by OnnxTeacher; absent means 1', async () => {
    expect(await checkTeacherContract(calibratedBytes)).toEqual({ kind: 'scores', numLabels: L, temperature: T });
    expect(await checkTeacherContract(plainBytes)).toEqual({ kind: 'scores', numLabels: L, temperature: 1 });
    const logits = exportSparseEncoderOnnx({ ...randomTeacher(2, 'logits'), temperature: 0.125 });
    expect((await checkTeacherContract(logits)).temperature).toBe(0.125);
    for (const [bytes, t] of [[calibratedBytes, T], [plainBytes, 1]] as const) {
      const teacher = await OnnxTeacher.load(bytes);
      expect(teacher.temperature).toBe(t);
      await teacher.close();
    }
  });

  it('is added to or replaced in an existing model, leaving the rest of it alone', async () => {
    const once = withTemperature(plainBytes, 3);
    const twice = withTemperature(once, 0.1 + 0.2); // replaced, not duplicated; the value round-trips
    expect((await checkTeacherContract(once)).temperature).toBe(3);
    expect((await checkTeacherContract(twice)).temperature).toBe(0.1 + 0.2);
    const model = decodeModel(twice);
    expect(model.metadataProps?.filter((p) => p.key === TEMPERATURE_KEY)).toHaveLength(1);
    expect(model.metadataProps?.map((p) => p.key).sort()).toEqual(['distilxr.num_labels', TEMPERATURE_KEY]);
    expect(model.graph).toEqual(decodeModel(new Uint8Array(plainBytes)).graph);
    // a model written elsewhere (no metadata at all) takes it too
    const foreign = encodeModel({ ...decodeModel(plainBytes), metadataProps: [] });
    expect((await checkTeacherContract(withTemperature(foreign, 7))).temperature).toBe(7);
  });

  it('refuses a value that is not a finite positive number, naming key and value', async () => {
    for (const value of ['0', '-1', 'abc', 'Infinity', 'NaN', '', ' 2', '0x10', '1e400']) {
      await expect(checkTeacherContract(withRawTemperature(value))).rejects.toThrow(
        new ContractError(`metadata "distilxr.temperature" must be a finite positive number, found ${JSON.stringify(value)}`),
      );
    }
    expect((await checkTeacherContract(withRawTemperature('1.5e-1'))).temperature).toBe(0.15);
    const twice = encodeModel({ ...decodeModel(plainBytes), metadataProps: [{ key: TEMPERATURE_KEY, value: '2' }, { key: TEMPERATURE_KEY, value: '2' }] });
    await expect(checkTeacherContract(twice)).rejects.toThrow('metadata "distilxr.temperature" is given twice');
  });

  it('refuses to write a bad temperature', () => {
    for (const t of [0, -1, NaN, Infinity]) {
      expect(() => exportSparseEncoderOnnx({ ...randomTeacher(1), temperature: t })).toThrow(`temperature must be a finite positive number, got ${t}`);
      expect(() => withTemperature(plainBytes, t)).toThrow(RangeError);
    }
  });
});

describe('temperature of cross-fitting folds', () => {
  let dir: string;
  const labelsFor = async (path: string) => (await loadDataset(path, { cacheDir: false })).labels;
  let trainPath: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'distilxr-calfolds-'));
    trainPath = (await writeSynth(join(dir, 'data'), { points: 60, features: D, labels: L, seed: 2 })).train;
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function writeFolds(name: string, temperatures: number[]): Promise<string> {
    const labels = await labelsFor(trainPath);
    const files = temperatures.map((_, k) => `${name}.fold${k}.onnx`);
    for (let k = 0; k < files.length; k++) await writeFile(join(dir, files[k]), exportSparseEncoderOnnx({ ...randomTeacher(10 + k), temperature: temperatures[k] }));
    const path = join(dir, `${name}.onnx`);
    await writeFile(path, calibratedBytes);
    const manifest: FoldsManifest = { format: FOLDS_FORMAT, version: 1, folds: files.length, seed: 1, trainPoints: labels.rows, labelsFingerprint: labelsFingerprint(labels), files };
    await writeFile(foldsManifestPath(path), JSON.stringify(manifest));
    return path;
  }

  it('is the one temperature every fold model declares', async () => {
    const folded = await FoldedTeacher.loadIfPresent(await writeFolds('same', [T, T, T]), await labelsFor(trainPath));
    expect(folded!.temperature).toBe(T);
    await folded!.close();
  });

  it('refuses fold models that disagree', async () => {
    const path = await writeFolds('mixed', [T, 1, T]);
    const loading = FoldedTeacher.loadIfPresent(path, await labelsFor(trainPath));
    await expect(loading).rejects.toBeInstanceOf(UsageError);
    await expect(FoldedTeacher.loadIfPresent(path, await labelsFor(trainPath))).rejects.toThrow(
      /the fold models declare different temperatures \(mixed\.fold0\.onnx: 2\.5, mixed\.fold1\.onnx: 1, mixed\.fold2\.onnx: 2\.5\); refit the teacher/,
    );
  });
});

/** Keeps every checkpoint saved, in memory. */
class MemoryCheckpoints implements CheckpointStore {
  saved: Uint8Array[] = [];
  async load(): Promise<Uint8Array | null> {
    return this.saved.at(-1) ?? null;
  }
  async save(parts: readonly Uint8Array[]): Promise<void> {
    this.saved.push(Buffer.concat(parts));
  }
}

describe('teacher scores in training', () => {
  let dir: string;
  let files: { train: string; test: string };
  const paths = { plain: '', calibrated: '' };
  // one epoch: the job mines, scores and checkpoints (epochs 0 would skip mining and scoring: nothing to train)
  const config: TrainConfig = { ...DEFAULT_TRAIN_CONFIG, dim: 8, epochs: 1, poolSize: 8, hardNegatives: 4 };
  /** Raw teacher scores of each training example's positives and of its pool. */
  let raw: (checkpoint: Uint8Array) => Promise<{ positives: Float32Array; seenPositives: Float32Array; pool: Float32Array; seenPool: Float32Array }>;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'distilxr-calib-'));
    files = await writeSynth(join(dir, 'data'), { points: 300, testPoints: 60, features: D, labels: L, seed: 4 });
    paths.plain = join(dir, 'plain.onnx');
    paths.calibrated = join(dir, 'calibrated.onnx');
    await writeFile(paths.plain, plainBytes);
    await writeFile(paths.calibrated, calibratedBytes);
    const train = await loadDataset(files.train, { cacheDir: false });
    const examples = Int32Array.from({ length: train.features.rows }, (_, i) => i);
    raw = async (checkpoint) => {
      const { tensors } = decodeSafetensors(checkpoint);
      const poolLabels = tensors.pool_labels.data as Int32Array;
      const pool = { size: config.poolSize, labels: poolLabels, teacherScores: null };
      const teacher = await OnnxTeacher.load(plainBytes);
      try {
        const positives = await teacher.scoreCandidates(train.features, examples, train.labels);
        const poolRaw = await teacher.scoreCandidates(train.features, examples, poolAsCsr(pool, examples.length, L));
        const seenPool = (tensors.pool_scores.data as Float32Array).filter((_, i) => poolLabels[i] >= 0);
        return { positives, seenPositives: tensors.positive_scores.data as Float32Array, pool: poolRaw, seenPool };
      } finally {
        await teacher.close();
      }
    };
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const run = async (teacherPath: string, cfg: TrainConfig) => {
    const checkpoints = new MemoryCheckpoints();
    const logs: string[] = [];
    const sink = { stage: () => undefined, progress: () => undefined, epoch: () => undefined, log: (m: string) => logs.push(m) };
    const result = await runTrainJob({ trainPath: files.train, testPath: files.test, teacherPath, config: cfg, cacheDir: false, checkpoints }, sink);
    return { result, logs, checkpoint: checkpoints.saved.at(-1)!, checkpoints };
  };

  /** seen[i] ≈ expected[i] / divisor for every i (float32 rounding of the division). */
  function expectDivided(seen: Float32Array, expected: Float32Array, divisor: number): void {
    expect(seen.length).toBe(expected.length);
    expect(seen.length).toBeGreaterThan(0);
    let worst = 0;
    for (let i = 0; i < seen.length; i++) worst = Math.max(worst, Math.abs(seen[i] - expected[i] / divisor) / Math.max(1, Math.abs(expected[i] / divisor)));
    expect(worst).toBeLessThan(1e-6);
  }

  it('sees the scores of a calibrated teacher divided by its temperature', async () => {
    const { result, logs, checkpoint } = await run(paths.calibrated, config);
    const r = await raw(checkpoint);
    expectDivided(r.seenPositives, r.positives, T);
    expectDivided(r.seenPool, r.pool, T);
    expect(result.teacherTemperature).toBe(T);
    expect(logs).toContain(`teacher scores divided by its calibration temperature ${T}`);
    // the teacher's ECE is reported before and after calibration
    expect(result.teacherMetrics!.ece).toBeGreaterThanOrEqual(0);
    expect(result.teacherMetrics!.eceCalibrated).not.toBe(result.teacherMetrics!.ece);
  });

  it('sees raw scores with teacherCalibration off, and from a teacher without the metadata', async () => {
    const off = await run(paths.calibrated, { ...config, teacherCalibration: false });
    const r = await raw(off.checkpoint);
    expectDivided(r.seenPositives, r.positives, 1);
    expectDivided(r.seenPool, r.pool, 1);
    expect(off.result.teacherTemperature).toBe(T); // declared, not applied: the config says so
    expect(off.logs).toContain(`teacher calibration off: its temperature ${T} is not applied`);

    const plain = await run(paths.plain, config);
    const p = await raw(plain.checkpoint);
    // undivided; to float rounding only: the stage scores each row's positives and pool in one call,
    // whose batches have other shapes than these separate calls'
    expectDivided(p.seenPositives, p.positives, 1);
    expectDivided(p.seenPool, p.pool, 1);
    expect(plain.result.teacherTemperature).toBe(1);
    expect(plain.result.teacherMetrics!.eceCalibrated).toBe(plain.result.teacherMetrics!.ece);
  });

  it('never resumes from a checkpoint whose scores were divided by another temperature', async () => {
    const { checkpoint } = await run(paths.calibrated, config);
    const train = await loadDataset(files.train, { cacheDir: false });
    const fresh = () => {
      const student = Student.init(studentShapeOf(config, train.features.cols, L), config.seed);
      return { student, trainer: new StudentTrainer(student, train.features, train.labels, config) };
    };
    const a = fresh();
    expect(restoreTrainState(checkpoint, { config, appliedTemperature: T }, a.student, a.trainer)?.appliedTemperature).toBe(T);
    const b = fresh();
    expect(restoreTrainState(checkpoint, { config, appliedTemperature: 1 }, b.student, b.trainer)).toBeNull();
    // and calibration on/off is part of the config a checkpoint must match
    const c = fresh();
    expect(restoreTrainState(checkpoint, { config: { ...config, teacherCalibration: false }, appliedTemperature: T }, c.student, c.trainer)).toBeNull();
    // scoring from the weights or through ONNX Runtime is not: the scores differ by float rounding only
    // (a checkpoint written before the setting existed has no teacherWeights)
    const d = fresh();
    expect(restoreTrainState(checkpoint, { config: { ...config, teacherWeights: !config.teacherWeights }, appliedTemperature: T }, d.student, d.trainer)).not.toBeNull();
  });

  it("a checkpoint is a snapshot: training after the encode does not reach it; its file is its parts in order", async () => {
    const { checkpoint } = await run(paths.calibrated, config);
    const train = await loadDataset(files.train, { cacheDir: false });
    const student = Student.init(studentShapeOf(config, train.features.cols, L), config.seed);
    const trainer = new StudentTrainer(student, train.features, train.labels, config);
    const state = restoreTrainState(checkpoint, { config, appliedTemperature: T }, student, trainer)!;
    const parts = encodeTrainState(state, student, trainer);
    const before = { W1: student.W1.slice(), V: student.V.slice() };
    trainer.setPool(state.pool);
    trainer.setPositiveTeacherScores(state.positiveScores);
    trainer.trainEpoch(2); // changes the parameters, the accumulators and the sampling state in place
    expect(student.V).not.toEqual(before.V);
    const path = join(dir, 'snapshot', 'state.bin');
    await new FileCheckpointStore(path).save(parts);
    const bytes = await readFile(path);
    expect(bytes.equals(Buffer.concat(parts))).toBe(true);
    const { tensors } = decodeSafetensors(bytes);
    expect(tensors.W1.data).toEqual(before.W1);
    expect(tensors.V.data).toEqual(before.V);
    // and it resumes to the state it was taken from, bit for bit
    const again = Student.init(studentShapeOf(config, train.features.cols, L), config.seed + 1);
    expect(restoreTrainState(bytes, { config, appliedTemperature: T }, again, new StudentTrainer(again, train.features, train.labels, config))).not.toBeNull();
    expect(again.W1).toEqual(before.W1);
  });

  it('validates the setting', () => {
    expect(validateTrainConfig({ ...config, teacherCalibration: 'yes' as unknown as boolean })).toEqual(['teacherCalibration must be true or false, got "yes"']);
    expect(DEFAULT_TRAIN_CONFIG.teacherCalibration).toBe(true);
  });
});
