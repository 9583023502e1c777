/**
 * Batching by length: sequences sorted by token count and cut into batches, each padded only to
 * its own longest sequence, so a batch of short texts does not pay for one long text elsewhere.
 */
import * as ort from 'onnxruntime-node';
import type { TextInput } from './bundle-manifest.js';
import type { EncodedText } from './text-tokenizer.js';

/** Indices into the sequence list, shortest first, cut into runs of at most batchSize. */
export function lengthBatches(seqs: readonly EncodedText[], batchSize: number): Int32Array[] {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batchSize must be a positive integer, got ${batchSize}`);
  const order = Int32Array.from(seqs.keys()).sort((a, b) => seqs[a].ids.length - seqs[b].ids.length || a - b);
  const out: Int32Array[] = [];
  for (let s = 0; s < order.length; s += batchSize) out.push(order.subarray(s, Math.min(order.length, s + batchSize)));
  return out;
}

/**
 * The model's feeds for one batch: int64 [B, S] with S the batch's longest sequence; padding is
 * padId with attention 0. int64 values are written through an Int32 view (low word; ids are ≥ 0).
 */
export function batchFeeds(seqs: readonly EncodedText[], batch: Int32Array, inputs: readonly TextInput[], padId: number): Record<string, ort.Tensor> {
  const B = batch.length;
  let S = 1;
  for (let b = 0; b < B; b++) S = Math.max(S, seqs[batch[b]].ids.length);
  const ids = new BigInt64Array(B * S); // [B, S]
  const mask = new BigInt64Array(B * S);
  const types = new BigInt64Array(B * S);
  const idW = new Int32Array(ids.buffer);
  const maskW = new Int32Array(mask.buffer);
  const typeW = new Int32Array(types.buffer);
  for (let b = 0; b < B; b++) {
    const s = seqs[batch[b]];
    const row = b * S;
    for (let t = 0; t < S; t++) {
      const w = 2 * (row + t);
      if (t < s.ids.length) {
        idW[w] = s.ids[t];
        maskW[w] = 1;
        typeW[w] = s.typeIds[t];
      } else {
        idW[w] = padId;
      }
    }
  }
  const all: Record<TextInput, BigInt64Array> = { input_ids: ids, attention_mask: mask, token_type_ids: types };
  const feeds: Record<string, ort.Tensor> = {};
  for (const name of inputs) feeds[name] = new ort.Tensor('int64', all[name], [B, S]);
  return feeds;
}
