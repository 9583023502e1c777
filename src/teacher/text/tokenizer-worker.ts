/** A tokeniser thread of TokenizerPool: encodes the pieces of sequences it is sent, one at a time. */
import { parentPort, workerData } from 'node:worker_threads';
import { encodeSequences } from './encoded-sequences.js';
import { TextTokenizer } from './text-tokenizer.js';
import type { TokenizerInit, TokenizerJob, TokenizerReply } from './tokenizer-protocol.js';

const init = workerData as TokenizerInit;
const port = parentPort!;
const tokenizer = TextTokenizer.fromJson(init.tokenizerJson, init.configJson, 'tokenizer.json');
const pairCache = new Map<string, string[]>();

port.on('message', (job: TokenizerJob) => {
  try {
    const packed = encodeSequences(tokenizer, job.req, pairCache);
    const reply: TokenizerReply = { id: job.id, type: 'done', packed };
    port.postMessage(reply, [packed.ids.buffer, packed.typeIds.buffer, packed.offsets.buffer] as ArrayBuffer[]);
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    port.postMessage({ id: job.id, type: 'error', name: err.name, message: err.message } satisfies TokenizerReply);
  }
});
