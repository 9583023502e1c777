/** Messages between TokenizerPool (tokenizer-pool.ts) and its threads (tokenizer-worker.ts). */
import type { EncodeRequest, PackedSequences } from './encoded-sequences.js';
import type { TokenizerSource } from './text-tokenizer.js';

/** workerData: the tokenizer's files. */
export type TokenizerInit = TokenizerSource;

export interface TokenizerJob {
  id: number;
  req: EncodeRequest;
}

export type TokenizerReply = { id: number; type: 'done'; packed: PackedSequences } | { id: number; type: 'error'; name: string; message: string };
