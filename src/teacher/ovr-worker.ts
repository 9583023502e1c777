/** A solver thread of fitOvrTasks: fits the blocks of labels it is sent, one at a time. */
import { parentPort, workerData } from 'node:worker_threads';
import { fitLabelBlock, ovrData } from './ovr-solver.js';
import type { OvrBlockRequest, OvrInit, OvrReply } from './ovr-protocol.js';

const init = workerData as OvrInit;
const port = parentPort!;
const data = ovrData(init.features, init.labels, init.numLabels);

port.on('message', (req: OvrBlockRequest) => {
  try {
    const block = fitLabelBlock(data, req.rows, req.perLabel, { ...init.cfg, seed: req.seed }, req.y0, req.y1);
    const w = block.weights;
    const reply: OvrReply = { type: 'block', block };
    port.postMessage(reply, [w.indptr.buffer, w.indices.buffer, w.values!.buffer, block.bias.buffer] as ArrayBuffer[]);
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    port.postMessage({ type: 'error', message: err.message, stack: err.stack } satisfies OvrReply);
  }
});
