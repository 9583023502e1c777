/**
 * Body of a worker_thread that scores chunks of jobs' scoring fan-out (chunk-thread-pool.ts): per
 * message, one chunk's rows (score-chunks.ts) with the job's training features and the chunk's
 * teacher: a sparse ONNX model, or a text teacher's bundle bound to the training texts and label
 * names as the job binds it (job-teacher.ts). The features and the teacher of the last chunk stay
 * loaded for the next one, which is most often the same job's. ONNX Runtime and the loading run
 * here so the worker's main thread keeps renewing the chunk's lock. Loaded by
 * chunk-thread-pool.ts, never imported elsewhere.
 */
import { parentPort } from 'node:worker_threads';
import type { Csr } from '../core/data/csr.js';
import { readJsonlTexts } from '../core/data/jsonl-format.js';
import { loadTrainTest } from '../core/data/load-dataset.js';
import { DistilxrError } from '../core/util/errors.js';
import { loadJobTeacher, type JobTeacher } from '../pipeline/job-teacher.js';
import { scoreChunkFile } from '../pipeline/score-chunks.js';
import { OnnxTeacher } from '../teacher/onnx-teacher.js';
import { TEXT_BATCH } from '../teacher/text/text-teacher.js';
import type { ChunkSource, ChunkThreadMessage, ChunkThreadRequest } from './chunk-thread-pool.js';

const port = parentPort;
if (!port) throw new Error('score-chunk-thread.ts must run in a worker_thread');
const send = (m: ChunkThreadMessage): void => port.postMessage(m);

/**
 * Batches of the warm-up's run, over the job's first training rows: ONNX Runtime plans each new
 * input shape ([batch, the batch's most features]) on first sight, and ten batches of real rows
 * meet most of the shapes a chunk brings (bench:workers: first chunks as fast as the rest).
 */
const FIRST_RUN_BATCHES = 10;

/**
 * What a chunk thread holds of a job's training file: the features an ONNX teacher reads, or for a
 * text teacher its texts and label names (no features: its rows are named by index into the
 * texts, so a stand-in with the rows' count takes the features' place).
 */
interface ChunkData {
  features: Csr;
  texts?: readonly string[];
  labelNames?: readonly string[];
}

// The last source's training data and teacher, as promises: a chunk that comes while a warm-up
// still loads them waits for that load instead of starting another.
let data: { key: string; loaded: Promise<ChunkData> } | null = null;
let model: { key: string; teacher: Promise<JobTeacher> } | null = null;

const dataKey = (source: ChunkSource): string => JSON.stringify([source.trainPath, source.featurizer ?? null, source.cacheDir, source.text === true]);
const modelKey = (source: ChunkSource): string => JSON.stringify([source.modelPath, source.teacherThreads ?? null, source.trainPath]);

async function readChunkData(source: ChunkSource): Promise<ChunkData> {
  if (!source.text) return { features: (await loadTrainTest(source.trainPath, undefined, { featurizer: source.featurizer, cacheDir: source.cacheDir })).train.features };
  const { texts, labelMap } = await readJsonlTexts(source.trainPath);
  const rows = texts.length;
  return { features: { rows, cols: 0, indptr: new Int32Array(rows + 1), indices: new Int32Array(0), values: null }, texts, labelNames: labelMap.names };
}

function dataOf(source: ChunkSource): Promise<ChunkData> {
  const key = dataKey(source);
  if (data?.key !== key) {
    data = null; // the old one goes before the new one is loaded
    const loaded = readChunkData(source);
    data = { key, loaded };
    loaded.catch(() => {
      if (data?.loaded === loaded) data = null; // the next chunk tries again
    });
  }
  return data.loaded;
}

/** The chunk's teacher: a sparse ONNX model, or a text bundle bound to the training rows' texts and label names. */
function modelOf(source: ChunkSource): Promise<JobTeacher> {
  const key = modelKey(source);
  if (model?.key !== key) {
    forgetModel();
    const teacher = (source.text ? dataOf(source) : Promise.resolve(null)).then((d) =>
      loadJobTeacher(source.modelPath, { threads: source.teacherThreads, labelNames: d?.labelNames, splits: d ? [{ features: d.features, texts: d.texts! }] : [] }),
    );
    model = { key, teacher };
    teacher.catch(() => {
      if (model?.teacher === teacher) model = null;
    });
  }
  return model.teacher;
}

const featuresOf = async (source: ChunkSource): Promise<Csr> => (await dataOf(source)).features;

/**
 * The job's first rows through a newly loaded model, as a chunk's would run: ONNX Runtime's first
 * runs of a session allocate and plan (bench:workers' first chunk took 0.9 s with its model loaded,
 * 0.33 s for the next ones), which the warm-up takes off the job's first chunk.
 */
async function firstRun(teacher: JobTeacher, csr: Csr): Promise<void> {
  // a text teacher's shapes follow its texts' lengths, which no warm-up can cover: one batch sets
  // up the session (a batch of a 4-layer transformer takes 0.14 s, a chunk's first rows that much later)
  const rows = Math.min(csr.rows, teacher instanceof OnnxTeacher ? FIRST_RUN_BATCHES * teacher.effectiveBatchSize() : TEXT_BATCH);
  const examples = Int32Array.from({ length: rows }, (_, i) => i);
  const candidates: Csr = { rows, cols: teacher.numLabels ?? 1, indptr: Int32Array.from({ length: rows + 1 }, (_, i) => i), indices: new Int32Array(rows), values: null };
  await teacher.scoreCandidates(csr, examples, candidates);
}

function forgetModel(): void {
  const old = model;
  model = null;
  old?.teacher.then((t) => t.close()).catch(() => undefined);
}

port.on('message', (input: ChunkThreadRequest) => {
  if ('type' in input) {
    if (input.type === 'warm') {
      // errors are the chunks' to report, when they load the same things
      void Promise.all([modelOf(input.source), featuresOf(input.source)])
        .then(([teacher, csr]) => firstRun(teacher, csr))
        .catch(() => undefined);
      return;
    }
    // idle: what the last job needed goes (the thread stays, with its code loaded)
    data = null;
    forgetModel();
    return;
  }
  void (async () => {
    try {
      // loaded or loading already (a warm-up, or this job's earlier chunk): the chunk does not wait for a load of its own
      const warm = model?.key === modelKey(input) && data?.key === dataKey(input);
      const pairs = await scoreChunkFile(await modelOf(input), await featuresOf(input), input.inPath, input.outPath);
      send({ type: 'done', pairs, warm });
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e));
      send({ type: 'error', name: err.name, message: err.message, permanent: e instanceof DistilxrError && e.kind === 'permanent' });
    }
  })();
});
