/**
 * Body of the worker_thread that scores one chunk of a job's scoring fan-out: the job's training
 * features, the chunk's ONNX model, the chunk's rows (score-chunks.ts). ONNX Runtime and the
 * feature loading run here so the worker's main thread keeps renewing the child's lock. Loaded by
 * score-chunk-processor.ts, never imported elsewhere.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { loadTrainTest } from '../core/data/load-dataset.js';
import { DistilxrError } from '../core/util/errors.js';
import { scoreChunkFile } from '../pipeline/score-chunks.js';
import { OnnxTeacher } from '../teacher/onnx-teacher.js';
import type { ChunkThreadInput, ChunkThreadMessage } from './score-chunk-processor.js';

const port = parentPort;
if (!port) throw new Error('score-chunk-thread.ts must run in a worker_thread');
const input = workerData as ChunkThreadInput;
const send = (m: ChunkThreadMessage): void => port.postMessage(m);

try {
  const { train } = await loadTrainTest(input.trainPath, undefined, { featurizer: input.featurizer, cacheDir: input.cacheDir });
  const model = await OnnxTeacher.load(input.modelPath, { intraOpThreads: input.teacherThreads });
  try {
    const pairs = await scoreChunkFile(model, train.features, input.inPath, input.outPath);
    send({ type: 'done', pairs });
  } finally {
    await model.close();
  }
} catch (e) {
  const err = e instanceof Error ? e : new Error(String(e));
  send({ type: 'error', name: err.name, message: err.message, permanent: e instanceof DistilxrError && e.kind === 'permanent' });
}
