/**
 * One unit of tokenisation work, the same whether this thread or a tokeniser thread does it: a
 * piece of a call's sequences in, their token ids packed into flat arrays out (arrays that move between
 * threads without copying).
 */
import { type EncodedText, EncodedRows, type TextTokenizer } from './text-tokenizer.js';

/**
 * Sequence j is texts[textOf[j]] (texts[j] when textOf is null), paired with pairs[j] when pairs
 * is given, truncated to maxLength tokens in all.
 */
export interface EncodeRequest {
  texts: string[];
  textOf: Int32Array | null;
  pairs: string[] | null;
  maxLength: number;
}

/** Encoded sequences, packed: sequence j is ids[offsets[j] .. offsets[j + 1]) (typeIds likewise). */
export interface PackedSequences {
  ids: Int32Array;
  typeIds: Int32Array;
  offsets: Int32Array;
}

/** Second texts kept tokenised across requests (label texts of a cross-encoder) before the cache starts again. */
const PAIR_CACHE_MAX = 100_000;

/**
 * Encodes a request's sequences. A text shared by consecutive sequences is tokenised once (a
 * query against its candidate labels), and second texts once per `pairCache` (keyed by max length
 * and text).
 */
export function encodeSequences(tok: TextTokenizer, req: EncodeRequest, pairCache: Map<string, string[]>): PackedSequences {
  const n = req.textOf ? req.textOf.length : req.texts.length;
  const out = new EncodedRows();
  let lastText = -1;
  let lastTokens: string[] = [];
  for (let j = 0; j < n; j++) {
    const t = req.textOf ? req.textOf[j] : j;
    if (req.pairs === null) {
      tok.encodeInto(req.texts[t], null, req.maxLength, out);
    } else {
      if (t !== lastText) {
        lastTokens = tok.tokenizeHead(req.texts[t], req.maxLength);
        lastText = t;
      }
      const key = `${req.maxLength}\n${req.pairs[j]}`;
      let pt = pairCache.get(key);
      if (!pt) {
        if (pairCache.size >= PAIR_CACHE_MAX) pairCache.clear();
        pairCache.set(key, (pt = tok.tokenizeHead(req.pairs[j], req.maxLength)));
      }
      tok.encodeTokensInto(lastTokens, pt, req.maxLength, out);
    }
  }
  return out.packed();
}

/** The sequences of a packed piece, as views into its arrays. */
export function unpackSequences(p: PackedSequences): EncodedText[] {
  const n = p.offsets.length - 1;
  const out: EncodedText[] = new Array<EncodedText>(n);
  for (let j = 0; j < n; j++) out[j] = { ids: p.ids.subarray(p.offsets[j], p.offsets[j + 1]), typeIds: p.typeIds.subarray(p.offsets[j], p.offsets[j + 1]) };
  return out;
}
