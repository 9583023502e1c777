/**
 * Body of a worker_thread that scores chunks of jobs' scoring fan-out (chunk-thread-pool.ts): per
 * message, one chunk's rows (score-chunks.ts) with the job's training features and the chunk's
 * ONNX model. The features and the model of the last chunk stay loaded for the next one, which is
 * most often the same job's. ONNX Runtime and the loading run here so the worker's main thread
 * keeps renewing the chunk's lock. Loaded by chunk-thread-pool.ts, never imported elsewhere.
 */
import { parentPort } from 'node:worker_threads';
import type { Csr } from '../core/data/csr.js';
import { loadTrainTest } from '../core/data/load-dataset.js';
import { DistilxrError } from '../core/util/errors.js';
import { scoreChunkFile } from '../pipeline/score-chunks.js';
import { OnnxTeacher } from '../teacher/onnx-teacher.js';
import type { ChunkThreadInput, ChunkThreadMessage } from './chunk-thread-pool.js';

const port = parentPort;
if (!port) throw new Error('score-chunk-thread.ts must run in a worker_thread');
const send = (m: ChunkThreadMessage): void => port.postMessage(m);

let features: { key: string; csr: Csr } | null = null;
let model: { key: string; teacher: OnnxTeacher } | null = null;

async function featuresOf(input: ChunkThreadInput): Promise<Csr> {
  const key = JSON.stringify([input.trainPath, input.featurizer ?? null, input.cacheDir]);
  if (features?.key !== key) {
    features = null; // the old one goes before the new one is loaded
    const { train } = await loadTrainTest(input.trainPath, undefined, { featurizer: input.featurizer, cacheDir: input.cacheDir });
    features = { key, csr: train.features };
  }
  return features.csr;
}

async function modelOf(input: ChunkThreadInput): Promise<OnnxTeacher> {
  const key = JSON.stringify([input.modelPath, input.teacherThreads ?? null]);
  if (model?.key !== key) {
    const old = model;
    model = null;
    await old?.teacher.close();
    model = { key, teacher: await OnnxTeacher.load(input.modelPath, { intraOpThreads: input.teacherThreads }) };
  }
  return model.teacher;
}

port.on('message', (input: ChunkThreadInput | { type: 'forget' }) => {
  if ('type' in input) {
    // idle: what the last job needed goes (the thread stays, with its code loaded)
    features = null;
    const old = model;
    model = null;
    void old?.teacher.close();
    return;
  }
  void (async () => {
    try {
      const pairs = await scoreChunkFile(await modelOf(input), await featuresOf(input), input.inPath, input.outPath);
      send({ type: 'done', pairs });
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e));
      send({ type: 'error', name: err.name, message: err.message, permanent: e instanceof DistilxrError && e.kind === 'permanent' });
    }
  })();
});
