import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { LabelIndex } from '../ann/hnsw-index.js';
import { UsageError } from '../core/errors.js';
import { Featurizer } from '../core/featurizer.js';
import type { LabelMap } from '../core/jsonl-format.js';
import type { MetricReport } from '../core/metrics.js';
import { decodeSafetensors, encodeSafetensors, tensorOf } from '../core/safetensors.js';
import { Student, type StudentShape } from '../core/student.js';
import type { TrainConfig } from '../core/train-config.js';
import { exportSparseEncoderOnnx } from '../teacher/onnx-export.js';

export const MODEL_FORMAT = 'distilxr-model';
export const MODEL_VERSION = 1;

export const FILES = {
  config: 'config.json',
  weights: 'weights.safetensors',
  labels: 'labels.json',
  featurizer: 'featurizer.json',
  labelMap: 'label-map.json',
  index: 'index.hnsw',
  onnx: 'student.onnx',
} as const;

export interface ModelConfig {
  format: typeof MODEL_FORMAT;
  version: number;
  shape: StudentShape;
  numFeatures: number;
  train: TrainConfig;
  hnsw: { M: number; efConstruction: number; efSearch: number };
  input: 'features' | 'text';
  createdAt: string;
  metrics?: MetricReport;
  hnswMetrics?: MetricReport;
  teacherMetrics?: MetricReport & { ece?: number };
}

export interface PublishInput {
  dir: string;
  student: Student;
  index: LabelIndex;
  config: Omit<ModelConfig, 'format' | 'version' | 'shape' | 'createdAt'>;
  labelNames?: string[];
  featurizer?: Featurizer;
  labelMap?: LabelMap;
  /** Training points per label and the number of training points: what PSP@k needs later. */
  labelCounts: Float32Array;
  trainPoints: number;
}

/**
 * Writes a self-contained model directory. Everything goes to a sibling temporary directory
 * first and is renamed into place, so a crash never leaves a half-written model under `dir`.
 */
export async function publishModel(p: PublishInput): Promise<string> {
  const dir = resolve(p.dir);
  const tmp = join(dirname(dir), `.${basename(dir)}.tmp-${process.pid}-${Date.now()}`);
  await mkdir(tmp, { recursive: true });
  try {
    const { student } = p;
    const { inputDim: D, dim: d, numLabels: L, tau } = student.shape;
    const config: ModelConfig = { format: MODEL_FORMAT, version: MODEL_VERSION, shape: student.shape, createdAt: new Date().toISOString(), ...p.config };
    await writeFile(join(tmp, FILES.config), JSON.stringify(config, null, 2) + '\n');
    await writeFile(
      join(tmp, FILES.weights),
      encodeSafetensors(
        { W1: { shape: [D, d], data: student.W1 }, V: { shape: [L, d], data: student.V }, label_counts: { shape: [L], data: p.labelCounts } },
        { format: MODEL_FORMAT, tau: String(tau), train_points: String(p.trainPoints) },
      ),
    );
    await writeFile(join(tmp, FILES.labels), JSON.stringify(p.labelNames ?? null) + '\n');
    if (p.featurizer) await writeFile(join(tmp, FILES.featurizer), JSON.stringify(p.featurizer.toJSON()));
    if (p.labelMap) await writeFile(join(tmp, FILES.labelMap), JSON.stringify(p.labelMap));
    await p.index.save(join(tmp, FILES.index));
    const onnx = exportSparseEncoderOnnx({
      inputDim: D,
      hiddenDim: d,
      W1: student.W1,
      normalize: true,
      labelTable: student.V,
      numLabels: L,
      scale: 1 / tau,
      output: 'scores',
    });
    await writeFile(join(tmp, FILES.onnx), onnx);
    if (await exists(dir)) {
      if (!(await exists(join(dir, FILES.config)))) throw new UsageError(`${dir} exists and is not a distilxr model directory; refusing to replace it`);
      await rm(dir, { recursive: true, force: true });
    }
    await rename(tmp, dir);
    return dir;
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
}

export interface LoadedModel {
  dir: string;
  config: ModelConfig;
  student: Student;
  labelNames: string[] | null;
  featurizer: Featurizer | null;
  labelMap: LabelMap | null;
  index: LabelIndex;
  labelCounts: Float32Array;
  trainPoints: number;
}

export async function loadModel(dir: string): Promise<LoadedModel> {
  const configPath = join(dir, FILES.config);
  if (!(await exists(configPath))) throw new UsageError(`${dir} is not a distilxr model directory (no ${FILES.config})`);
  const config = JSON.parse(await readFile(configPath, 'utf8')) as ModelConfig;
  if (config.format !== MODEL_FORMAT) throw new UsageError(`${configPath}: format is ${String(config.format)}, expected ${MODEL_FORMAT}`);
  const weightsPath = join(dir, FILES.weights);
  const { tensors, metadata } = decodeSafetensors(await readFile(weightsPath), weightsPath);
  const student = new Student(config.shape, tensorOf(tensors, 'W1', Float32Array, weightsPath), tensorOf(tensors, 'V', Float32Array, weightsPath));
  const labelNames = JSON.parse(await readFile(join(dir, FILES.labels), 'utf8')) as string[] | null;
  const featurizer = (await exists(join(dir, FILES.featurizer)))
    ? Featurizer.fromJSON(JSON.parse(await readFile(join(dir, FILES.featurizer), 'utf8')))
    : null;
  const labelMap = (await exists(join(dir, FILES.labelMap))) ? (JSON.parse(await readFile(join(dir, FILES.labelMap), 'utf8')) as LabelMap) : null;
  const index = await LabelIndex.load(join(dir, FILES.index), config.shape.dim, config.shape.numLabels);
  index.setEf(config.hnsw.efSearch);
  return { dir, config, student, labelNames, featurizer, labelMap, index, labelCounts: tensorOf(tensors, 'label_counts', Float32Array, weightsPath), trainPoints: Number(metadata.train_points) };
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
