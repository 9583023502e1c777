/**
 * BERT's tokenisation (BertNormalizer with clean_text, BertPreTokenizer, WordPiece) of an ASCII
 * text in plain loops over character codes: the tokens @huggingface/tokenizers gives for the same
 * text (test/text-tokenizer-head.test.ts compares them on real and random texts), without its
 * per-character regular expressions, arrays and joins. A text with a character above 127, or that
 * holds an added token's text in any case, is left to the library (tokenize returns null).
 */

/** The parts of tokenizer.json this reads. */
interface TokenizerJson {
  normalizer?: { type?: unknown; clean_text?: unknown; lowercase?: unknown } | null;
  pre_tokenizer?: { type?: unknown } | null;
  model?: { type?: unknown; unk_token?: unknown; continuing_subword_prefix?: unknown; max_input_chars_per_word?: unknown; fuse_unk?: unknown };
  added_tokens?: { content?: unknown }[];
}

/** ASCII punctuation as BertPreTokenizer sees it: \p{P} and the ranges 0x21-0x2F, 0x3A-0x40, 0x5B-0x60, 0x7B-0x7E. */
function isPunct(c: number): boolean {
  return (c >= 0x21 && c <= 0x2f) || (c >= 0x3a && c <= 0x40) || (c >= 0x5b && c <= 0x60) || (c >= 0x7b && c <= 0x7e);
}

export class AsciiWordPiece {
  private readonly maxPiece: number;

  private constructor(
    /** The library's token → id map (vocabulary and added tokens). */
    private readonly vocab: ReadonlyMap<string, number>,
    private readonly unk: string,
    private readonly prefix: string,
    private readonly maxWordChars: number,
    private readonly lowercase: boolean,
    /** Added tokens' texts, lower-cased. */
    private readonly added: readonly string[],
  ) {
    let m = 0;
    for (const k of vocab.keys()) m = Math.max(m, k.length);
    this.maxPiece = m;
  }

  /**
   * For a tokenizer.json of exactly this pipeline (and a tokenizer_config.json without remove_space
   * or do_lowercase_and_remove_accent), given the library's token → id map; otherwise null.
   */
  static of(json: TokenizerJson, config: { remove_space?: unknown; do_lowercase_and_remove_accent?: unknown }, vocab: unknown): AsciiWordPiece | null {
    const n = json.normalizer;
    const m = json.model;
    if (n?.type !== 'BertNormalizer' || !n.clean_text) return null;
    if (json.pre_tokenizer?.type !== 'BertPreTokenizer') return null;
    if (m?.type !== 'WordPiece' || typeof m.unk_token !== 'string' || typeof m.continuing_subword_prefix !== 'string' || m.fuse_unk) return null;
    if (config.remove_space || config.do_lowercase_and_remove_accent) return null;
    if (!(vocab instanceof Map)) return null;
    const maxWord = typeof m.max_input_chars_per_word === 'number' ? m.max_input_chars_per_word : 100;
    const added = (json.added_tokens ?? []).map((t) => String(t.content).toLowerCase());
    return new AsciiWordPiece(vocab as Map<string, number>, m.unk_token, m.continuing_subword_prefix, maxWord, Boolean(n.lowercase), added);
  }

  /** The tokens of `text`, or null when the text is not for this path. */
  tokenize(text: string): string[] | null {
    const n = text.length;
    const codes = new Uint16Array(n); // the cleaned (and lower-cased) text
    let len = 0;
    for (let i = 0; i < n; i++) {
      let c = text.charCodeAt(i);
      if (c > 127) return null;
      // clean_text: NUL and control characters go (tab, newline and return are whitespace), whitespace becomes a space
      if (c === 9 || c === 10 || c === 13) c = 32;
      else if (c < 32 || c === 127) continue;
      if (this.lowercase && c >= 65 && c <= 90) c += 32;
      codes[len++] = c;
    }
    if (this.added.length) {
      const lower = text.toLowerCase();
      for (const a of this.added) if (lower.includes(a)) return null;
    }
    const out: string[] = [];
    for (let i = 0; i < len; ) {
      const c = codes[i];
      if (c === 32) {
        i++;
      } else if (isPunct(c)) {
        this.wordPiece(String.fromCharCode(c), out);
        i++;
      } else {
        let j = i + 1;
        while (j < len && codes[j] !== 32 && !isPunct(codes[j])) j++;
        if (j - i > this.maxWordChars) out.push(this.unk);
        else this.wordPiece(String.fromCharCode.apply(null, codes.subarray(i, j) as unknown as number[]), out);
        i = j;
      }
    }
    return out;
  }

  /** WordPiece of one word: greedy longest match first, the whole word unknown when a piece is. */
  private wordPiece(word: string, out: string[]): void {
    if (word.length > this.maxWordChars) {
      out.push(this.unk);
      return;
    }
    const first = out.length;
    for (let start = 0; start < word.length; ) {
      let found: string | null = null;
      let end = Math.min(word.length, start + this.maxPiece);
      for (; end > start; end--) {
        const sub = start > 0 ? this.prefix + word.slice(start, end) : word.slice(start, end);
        if (this.vocab.has(sub)) {
          found = sub;
          break;
        }
      }
      if (found === null) {
        out.length = first;
        out.push(this.unk);
        return;
      }
      out.push(found);
      start = end;
    }
  }
}
