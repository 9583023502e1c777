/** A solver thread of fitOvrTasks: fits the blocks of labels it is sent, one at a time. */
import { parentPort, workerData } from 'node:worker_threads';
import { fitLabelBlock, ovrData } from './ovr-solver.js';
import type { OvrBlockRequest, OvrInit, OvrReply } from './ovr-protocol.js';

const init = workerData as OvrInit;
const port = parentPort!;
const data = ovrData(init.features, init.labels, init.numLabels);

port.on('message', (req: OvrBlockRequest) => {
  let reply: OvrReply;
  try {
    reply = { type: 'block', block: fitLabelBlock(data, req.rows, req.perLabel, { ...init.cfg, seed: req.seed }, req.y0, req.y1) };
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    reply = { type: 'error', message: err.message, stack: err.stack };
  }
  const w = reply.type === 'block' ? reply.block.weights : null;
  port.postMessage(reply, w ? ([w.indptr.buffer, w.indices.buffer, w.values!.buffer, (reply as { block: { bias: Float32Array } }).block.bias.buffer] as ArrayBuffer[]) : []);
});
