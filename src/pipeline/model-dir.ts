import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { LabelIndex } from '../ann/hnsw-index.js';
import { PointIndex } from '../ann/point-index.js';
import { UsageError } from '../core/util/errors.js';
import { Featurizer } from '../core/data/featurizer.js';
import type { LabelMap } from '../core/data/jsonl-format.js';
import { propensitiesFromCounts, type MetricReport } from '../core/model/metrics.js';
import type { Dataset } from '../core/data/dataset.js';
import { loadDataset } from '../core/data/load-dataset.js';
import { decodeSafetensors, encodeSafetensorsParts, tensorOf, type Tensor } from '../core/model/safetensors.js';
import { Student, type StudentShape } from '../core/model/student.js';
import type { TrainConfig } from '../core/model/train-config.js';
import { exportSparseEncoderOnnxParts } from '../teacher/onnx-export.js';
import { isProcessAlive, writeFileParts } from '../core/util/atomic-write.js';
import { sha256File } from '../core/util/hash.js';
import { ArtifactIntegrityError, readVerifiedFile, verifyFile } from '../core/util/checksums.js';
import { blends, type NeighbourComponent } from './retrieve.js';

export const MODEL_FORMAT = 'distilxr-model';
/**
 * 2: the student's shape may carry a label-bias slot (StudentShape.labelBias).
 * 3: the neighbour component: points.hnsw over the training points' embeddings and their labels
 * (point_labels_* in the weights); config.train's neighbour settings say how queries blend.
 * 4: the training points' index is a USearch file, points.usearch (src/ann/point-index.ts).
 * 5: that index may hold 8-bit integers searched by cosine (its sidecar's scalar 'i8', space 'cos');
 * a version 4 model is one of version 5 whose index holds half floats, so both are read.
 */
export const MODEL_VERSION = 5;
/** Versions this distilxr reads: MODEL_VERSION and those it extends without a change of meaning. */
export const READABLE_MODEL_VERSIONS: readonly number[] = [4, 5];

export const FILES = {
  config: 'config.json',
  weights: 'weights.safetensors',
  labels: 'labels.json',
  featurizer: 'featurizer.json',
  labelMap: 'label-map.json',
  index: 'index.hnsw',
  /** Training points' embeddings (neighbour component; absent when it is off). */
  points: 'points.usearch',
  onnx: 'student.onnx',
  /** sha256 of every other file, written last: loadModel verifies each file against it. */
  checksums: 'checksums.json',
} as const;

/** Contents of checksums.json. */
export interface ModelChecksums {
  algorithm: 'sha256';
  /** File name → sha256 hex, for every file of the directory but checksums.json. */
  files: Record<string, string>;
}

/** Files every model directory has (featurizer and label map only for text models). */
const REQUIRED_FILES = [FILES.config, FILES.weights, FILES.labels, FILES.index, FILES.onnx] as const;

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
  /** The neighbour component, published when it blends (config.train.neighbourWeight > 0). */
  neighbours?: NeighbourComponent | null;
}

/**
 * Writes a self-contained model directory. Everything goes to a sibling temporary directory
 * first (with checksums.json listing the sha256 of each file) and is renamed into place, so a
 * crash never leaves a half-written model under `dir`; the leftovers of a killed earlier attempt
 * are removed first.
 */
export async function publishModel(p: PublishInput): Promise<string> {
  const dir = resolve(p.dir);
  const tmpPrefix = `.${basename(dir)}.tmp-`;
  await removeDeadAttempts(dirname(dir), tmpPrefix);
  const tmp = join(dirname(dir), `${tmpPrefix}${process.pid}-${Date.now()}`);
  await mkdir(tmp, { recursive: true });
  try {
    const { student } = p;
    const { inputDim: D, dim: d, numLabels: L, tau } = student.shape;
    const config: ModelConfig = { format: MODEL_FORMAT, version: MODEL_VERSION, shape: student.shape, createdAt: new Date().toISOString(), ...p.config };
    await writeFile(join(tmp, FILES.config), JSON.stringify(config, null, 2) + '\n');
    const nb = blends(p.neighbours) ? p.neighbours : null;
    const pointTensors: Record<string, Tensor> = nb
      ? {
          point_labels_indptr: { shape: [nb.pointLabels.rows + 1], data: nb.pointLabels.indptr },
          point_labels_indices: { shape: [nb.pointLabels.indices.length], data: nb.pointLabels.indices },
        }
      : {};
    // the parameters written from where they are, not joined into one buffer first (debtags: 2 × 139 MB)
    await writeFileParts(
      join(tmp, FILES.weights),
      encodeSafetensorsParts(
        { W1: { shape: [D, d], data: student.W1 }, V: { shape: [L, d], data: student.V }, label_counts: { shape: [L], data: p.labelCounts }, ...pointTensors },
        { format: MODEL_FORMAT, tau: String(tau), train_points: String(p.trainPoints) },
      ),
    );
    await writeFile(join(tmp, FILES.labels), JSON.stringify(p.labelNames ?? null) + '\n');
    if (p.featurizer) await writeFile(join(tmp, FILES.featurizer), JSON.stringify(p.featurizer.toJSON()));
    if (p.labelMap) await writeFile(join(tmp, FILES.labelMap), JSON.stringify(p.labelMap));
    await p.index.save(join(tmp, FILES.index));
    if (nb) await nb.index.save(join(tmp, FILES.points));
    const onnx = exportSparseEncoderOnnxParts({
      inputDim: D,
      hiddenDim: d,
      W1: student.W1,
      normalize: true,
      labelTable: student.V, // the bias slot's column meets q's 0 there: its part comes from labelBias
      ...(student.shape.labelBias ? { labelBias: student.V.filter((_, i) => i % d === d - 1) } : {}),
      numLabels: L,
      scale: 1 / tau,
      output: 'scores',
    });
    await writeFileParts(join(tmp, FILES.onnx), onnx);
    await writeChecksums(tmp);
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
  /** The neighbour component when the model has one (config.train's settings). */
  neighbours: NeighbourComponent | null;
  labelCounts: Float32Array;
  trainPoints: number;
}

/**
 * Reads a model directory written by publishModel. Every file is checked against checksums.json
 * first: a corrupt or replaced file is refused with an ArtifactIntegrityError naming it (the index
 * with LabelIndex.load's IndexIntegrityError, against its sidecar, itself checked here).
 */
export async function loadModel(dir: string): Promise<LoadedModel> {
  const configPath = join(dir, FILES.config);
  if (!(await exists(configPath))) throw new UsageError(`${dir} is not a distilxr model directory (no ${FILES.config})`);
  const { manifestPath, files } = await readChecksums(dir);
  // Files parsed below are hashed from the bytes they are parsed from (one read each, not two).
  // The index, the largest file, is hashed by LabelIndex.load against its sidecar.
  const indexSidecar = `${FILES.index}.json`;
  const readOnce = new Set<string>([FILES.config, FILES.weights, FILES.labels, FILES.featurizer, FILES.labelMap]);
  if (files[indexSidecar] !== undefined) readOnce.add(FILES.index);
  if (files[`${FILES.points}.json`] !== undefined) readOnce.add(FILES.points);
  for (const [name, sha] of Object.entries(files)) if (!readOnce.has(name)) await verifyFile(join(dir, name), sha, manifestPath);
  const read = (name: string): Promise<Buffer> => readVerifiedFile(join(dir, name), files[name], manifestPath);
  const readJson = async (name: string): Promise<unknown> => JSON.parse((await read(name)).toString('utf8'));

  const config = (await readJson(FILES.config)) as ModelConfig;
  if (config.format !== MODEL_FORMAT) throw new UsageError(`${configPath}: format is ${String(config.format)}, expected ${MODEL_FORMAT}`);
  if (!READABLE_MODEL_VERSIONS.includes(config.version)) {
    throw new UsageError(`${configPath}: model format version ${String(config.version)}, this distilxr reads versions ${READABLE_MODEL_VERSIONS.join(' and ')} only: train the model again (or query it with the distilxr that wrote it)`);
  }
  const weightsPath = join(dir, FILES.weights);
  const { tensors, metadata } = decodeSafetensors(await read(FILES.weights), weightsPath);
  const student = new Student(config.shape, tensorOf(tensors, 'W1', Float32Array, weightsPath), tensorOf(tensors, 'V', Float32Array, weightsPath));
  const labelNames = (await readJson(FILES.labels)) as string[] | null;
  // listed in checksums.json exactly when publishModel wrote them (text models)
  const featurizer = files[FILES.featurizer] !== undefined ? Featurizer.fromJSON(await readJson(FILES.featurizer)) : null;
  const labelMap = files[FILES.labelMap] !== undefined ? ((await readJson(FILES.labelMap)) as LabelMap) : null;
  const index = await LabelIndex.load(join(dir, FILES.index), config.shape.dim, config.shape.numLabels);
  index.setEf(config.hnsw.efSearch);
  const neighbours = files[FILES.points] !== undefined ? await loadNeighbours(dir, config, tensors, weightsPath) : null;
  return { dir, config, student, labelNames, featurizer, labelMap, index, neighbours, labelCounts: tensorOf(tensors, 'label_counts', Float32Array, weightsPath), trainPoints: Number(metadata.train_points) };
}

async function loadNeighbours(dir: string, config: ModelConfig, tensors: ReturnType<typeof decodeSafetensors>['tensors'], weightsPath: string): Promise<NeighbourComponent> {
  const indptr = tensorOf(tensors, 'point_labels_indptr', Int32Array, weightsPath);
  const indices = tensorOf(tensors, 'point_labels_indices', Int32Array, weightsPath);
  const rows = indptr.length - 1;
  const index = await PointIndex.load(join(dir, FILES.points), config.shape.dim, rows);
  const { neighbours, neighbourWeight, voteTemperature } = config.train;
  return { index, pointLabels: { rows, cols: config.shape.numLabels, indptr, indices, values: null }, settings: { neighbours, weight: neighbourWeight, voteTemperature } };
}

/** Writes checksums.json for every file already in `dir`. */
async function writeChecksums(dir: string): Promise<void> {
  const names = (await readdir(dir)).filter((n) => n !== FILES.checksums).sort();
  const files: Record<string, string> = {};
  for (const n of names) files[n] = await sha256File(join(dir, n));
  const manifest: ModelChecksums = { algorithm: 'sha256', files };
  await writeFile(join(dir, FILES.checksums), JSON.stringify(manifest, null, 2) + '\n');
}

/**
 * Reads checksums.json; throws ArtifactIntegrityError unless it lists the required files and only
 * names inside the directory.
 */
async function readChecksums(dir: string): Promise<{ manifestPath: string; files: Record<string, string> }> {
  const manifestPath = join(dir, FILES.checksums);
  let manifest: ModelChecksums;
  try {
    manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as ModelChecksums;
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing (published incompletely or by an older distilxr: publish it again)' : (e as Error).message;
    throw new ArtifactIntegrityError(manifestPath, `${manifestPath}: cannot read the model's checksums: ${why}`);
  }
  if (manifest?.algorithm !== 'sha256' || typeof manifest.files !== 'object' || manifest.files === null) {
    throw new ArtifactIntegrityError(manifestPath, `${manifestPath}: not a checksum list (expected {"algorithm": "sha256", "files": {...}})`);
  }
  for (const f of REQUIRED_FILES) {
    if (typeof manifest.files[f] !== 'string') throw new ArtifactIntegrityError(manifestPath, `${manifestPath}: has no checksum for ${f}`);
  }
  for (const name of Object.keys(manifest.files)) {
    // names come from the file: never let one point outside the directory
    if (basename(name) !== name || name === '..' || name === '.') throw new ArtifactIntegrityError(manifestPath, `${manifestPath}: invalid file name ${JSON.stringify(name)}`);
  }
  return { manifestPath, files: manifest.files };
}

/** Removes `<prefix><pid>-<time>` siblings left by publishing processes that no longer run. */
async function removeDeadAttempts(parent: string, prefix: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(parent);
  } catch {
    return;
  }
  for (const n of names) {
    if (!n.startsWith(prefix)) continue;
    const pid = Number(n.slice(prefix.length).split('-')[0]);
    if (Number.isInteger(pid) && pid > 0 && !isProcessAlive(pid)) await rm(join(parent, n), { recursive: true, force: true });
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** A test file read the way `model` reads its input (its featurizer and label map), within its feature range. */
export async function loadTestForModel(model: LoadedModel, path: string): Promise<Dataset> {
  const test = await loadDataset(path, { featurizer: model.featurizer ?? undefined, labelMap: model.labelMap ?? undefined });
  if (test.features.cols > model.config.numFeatures) {
    throw new UsageError(`${path} declares ${test.features.cols} features; the model was trained on ${model.config.numFeatures}`);
  }
  return { ...test, features: { ...test.features, cols: model.config.numFeatures } };
}

/** PSP@k propensities from the model's training label counts, over its labels and any the test set adds. */
export function modelPropensities(model: LoadedModel, test: Dataset): Float64Array {
  return propensitiesFromCounts(model.labelCounts, model.trainPoints, Math.max(test.labels.cols, model.config.shape.numLabels));
}
