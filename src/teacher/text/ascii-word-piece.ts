/**
 * BERT's tokenisation (BertNormalizer with clean_text, BertPreTokenizer, WordPiece) of an ASCII
 * text in plain loops over character codes: the tokens @huggingface/tokenizers gives for the same
 * text (test/text-tokenizer-head.test.ts compares them on real and random texts), without its
 * per-character regular expressions, arrays and joins. Words are looked up in a cache of their
 * pieces. A run of text between ASCII spaces that holds a character above 127 goes to the library
 * on its own (normalisation is character by character and every space splits, so its tokens are
 * the same as in the whole text); a text that holds an added token's text in any case is left to
 * the library whole (tokenize returns null).
 */

/** The parts of tokenizer.json this reads. */
interface TokenizerJson {
  normalizer?: { type?: unknown; clean_text?: unknown; lowercase?: unknown } | null;
  pre_tokenizer?: { type?: unknown } | null;
  model?: { type?: unknown; unk_token?: unknown; continuing_subword_prefix?: unknown; max_input_chars_per_word?: unknown; fuse_unk?: unknown };
  added_tokens?: { content?: unknown }[];
}

function isSpace(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 13;
}

/** ASCII punctuation as BertPreTokenizer sees it: \p{P} and the ranges 0x21-0x2F, 0x3A-0x40, 0x5B-0x60, 0x7B-0x7E. */
function isPunct(c: number): boolean {
  return (c >= 0x21 && c <= 0x2f) || (c >= 0x3a && c <= 0x40) || (c >= 0x5b && c <= 0x60) || (c >= 0x7b && c <= 0x7e);
}

/** Words kept with their pieces before the cache starts again (a few MB of short strings). */
const WORD_CACHE_MAX = 100_000;

/** The text without NUL and control characters other than tab, newline and return (BertNormalizer's clean_text). */
function cleaned(text: string): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c < 32 && c !== 9 && c !== 10 && c !== 13) || c === 127) continue;
    out += text[i];
  }
  return out;
}

/** A word's WordPiece tokens and their ids. */
interface Pieces {
  tokens: readonly string[];
  ids: readonly number[];
}

export class AsciiWordPiece {
  private readonly maxPiece: number;
  private readonly maxAdded: number;
  private readonly cache = new Map<string, Pieces>();

  private constructor(
    /** The library's token → id map (vocabulary and added tokens). */
    private readonly vocab: ReadonlyMap<string, number>,
    private readonly unk: string,
    private readonly prefix: string,
    private readonly maxWordChars: number,
    private readonly lowercase: boolean,
    /** Added tokens' texts, lower-cased. */
    private readonly added: readonly string[],
    /** The library's tokens of a run of text without ASCII spaces; null: such texts go to the library whole. */
    private readonly libraryTokens: ((run: string) => string[]) | null,
  ) {
    let m = 0;
    for (const k of vocab.keys()) m = Math.max(m, k.length);
    this.maxPiece = m;
    this.maxAdded = added.reduce((x, a) => Math.max(x, a.length), 0);
  }

  /**
   * For a tokenizer.json of exactly this pipeline (and a tokenizer_config.json without remove_space
   * or do_lowercase_and_remove_accent), given the library's token → id map; otherwise null.
   */
  static of(
    json: TokenizerJson,
    config: { remove_space?: unknown; do_lowercase_and_remove_accent?: unknown },
    vocab: unknown,
    libraryTokens: (run: string) => string[],
  ): AsciiWordPiece | null {
    const n = json.normalizer;
    const m = json.model;
    if (n?.type !== 'BertNormalizer' || !n.clean_text) return null;
    if (json.pre_tokenizer?.type !== 'BertPreTokenizer') return null;
    if (m?.type !== 'WordPiece' || typeof m.unk_token !== 'string' || typeof m.continuing_subword_prefix !== 'string' || m.fuse_unk) return null;
    if (config.remove_space || config.do_lowercase_and_remove_accent) return null;
    if (!(vocab instanceof Map)) return null;
    const maxWord = typeof m.max_input_chars_per_word === 'number' ? m.max_input_chars_per_word : 100;
    const added = (json.added_tokens ?? []).map((t) => String(t.content).toLowerCase());
    // an added token holding a space could be matched across two runs: then no run goes to the library alone
    const runs = added.every((a) => !/\s/.test(a)) ? libraryTokens : null;
    return new AsciiWordPiece(vocab as Map<string, number>, m.unk_token, m.continuing_subword_prefix, maxWord, Boolean(n.lowercase), added, runs);
  }

  /**
   * The tokens of `text`, or null when the text is not for this path. With `need`, it stops after
   * the word that brings the count to `need` or more: a prefix of the whole text's tokens, since no
   * piece crosses a word's end and what lies past the next character cannot change the words before.
   */
  tokenize(text: string, need = Infinity): string[] | null {
    return this.scan(text, need, false) as string[] | null;
  }

  /** As tokenize, the tokens' ids. */
  ids(text: string, need = Infinity): number[] | null {
    return this.scan(text, need, true) as number[] | null;
  }

  private scan(text: string, need: number, asIds: boolean): (string | number)[] | null {
    const n = text.length;
    const out: (string | number)[] = [];
    let i = 0;
    let runStart = 0; // where the run of text since the last ASCII space starts, and the tokens before it
    let runOut = 0;
    while (i < n) {
      const c = text.charCodeAt(i);
      if (isSpace(c)) {
        if (out.length >= need) break; // nothing past a space can change the words before it
        i++;
        runStart = i;
        runOut = out.length;
        continue;
      }
      if (c > 127) {
        if (this.libraryTokens === null) return null;
        let end = i + 1;
        while (end < n && !isSpace(text.charCodeAt(end))) end++;
        out.length = runOut; // the run's ASCII words read so far go to the library with the rest of it
        for (const t of this.libraryTokens(text.slice(runStart, end))) out.push(asIds ? this.vocab.get(t)! : t);
        i = end;
        continue;
      }
      // clean_text drops NUL and control characters, which can join the words beside them: rare, so the text is rebuilt only then
      if (c < 32 || c === 127) return this.scan(cleaned(text), need, asIds);
      if (out.length >= need) break;
      let j = i + 1;
      let upper = c >= 65 && c <= 90;
      if (!isPunct(c)) {
        for (; j < n; j++) {
          const d = text.charCodeAt(j);
          if (d <= 32 || d >= 127 || isPunct(d)) break; // a character above 127 or a control one ends the word here and is looked at next
          if (d >= 65 && d <= 90) upper = true;
        }
      }
      if (j - i > this.maxWordChars) {
        out.push(asIds ? this.vocab.get(this.unk)! : this.unk);
      } else {
        let word = text.slice(i, j);
        if (upper && this.lowercase) word = word.toLowerCase();
        const w = this.pieces(word);
        const from = asIds ? w.ids : w.tokens;
        for (let k = 0; k < from.length; k++) out.push(from[k]);
      }
      i = j;
    }
    // added tokens are matched in the raw text first: none may start in the part read or reach past it
    if (this.added.length) {
      const head = text.slice(0, Math.min(n, i + this.maxAdded)).toLowerCase();
      for (const a of this.added) if (head.includes(a)) return null;
    }
    return out;
  }

  /** A word's pieces and their ids, from the cache when the word was seen before: words repeat, WordPiece's search is what costs. */
  private pieces(word: string): Pieces {
    let w = this.cache.get(word);
    if (w === undefined) {
      if (this.cache.size >= WORD_CACHE_MAX) this.cache.clear();
      const tokens: string[] = [];
      this.wordPiece(word, tokens);
      w = { tokens, ids: tokens.map((t) => this.vocab.get(t)!) };
      this.cache.set(word, w);
    }
    return w;
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
