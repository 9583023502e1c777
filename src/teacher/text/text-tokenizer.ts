/**
 * A Hugging Face tokenizer.json read offline with @huggingface/tokenizers, plus what that library
 * leaves to the caller: truncation to max_length (longest-first for pairs, as the Rust library
 * does) before the post-processor adds the special tokens, and token ids as numbers. Texts far
 * longer than max_length are tokenised only as far as truncation keeps (tokenizeHead), where the
 * tokenizer's pipeline allows it.
 */
import { Tokenizer } from '@huggingface/tokenizers';
import { ContractError } from '../../core/util/errors.js';
import { AsciiWordPiece } from './ascii-word-piece.js';

/** One encoded sequence: token ids and token type ids (0 for the first text, 1 for the pair). */
export interface EncodedText {
  ids: Int32Array;
  typeIds: Int32Array;
}

/**
 * Encoded sequences appended one after another into growing buffers (many small typed arrays, or
 * plain arrays pushed one id at a time, cost more than the tokenising): sequence j is
 * ids[offsets[j] .. offsets[j + 1]).
 */
export class EncodedRows {
  private idBuf = new Int32Array(1024);
  private typeBuf = new Int32Array(1024);
  private size = 0;
  private readonly ends: number[] = [0];

  push(id: number, typeId: number): void {
    if (this.size === this.idBuf.length) {
      const ids = new Int32Array(2 * this.size);
      const types = new Int32Array(2 * this.size);
      ids.set(this.idBuf);
      types.set(this.typeBuf);
      this.idBuf = ids;
      this.typeBuf = types;
    }
    this.idBuf[this.size] = id;
    this.typeBuf[this.size++] = typeId;
  }

  /** Ends the sequence being appended. */
  end(): void {
    this.ends.push(this.size);
  }

  /** Sequence j, copied out. */
  sequence(j: number): EncodedText {
    return { ids: this.idBuf.slice(this.ends[j], this.ends[j + 1]), typeIds: this.typeBuf.slice(this.ends[j], this.ends[j + 1]) };
  }

  /** Every sequence, packed (copies of the filled part). */
  packed(): { ids: Int32Array; typeIds: Int32Array; offsets: Int32Array } {
    return { ids: this.idBuf.slice(0, this.size), typeIds: this.typeBuf.slice(0, this.size), offsets: Int32Array.from(this.ends) };
  }
}

/** The files a TextTokenizer was read from: enough to build the same tokenizer in another thread. */
export interface TokenizerSource {
  tokenizerJson: string;
  configJson: string | null;
}

/** Normalizers that map each character on its own (none joins or moves text across a space). */
const CHARACTER_NORMALIZERS = new Set(['BertNormalizer', 'Lowercase', 'NFD', 'NFKD', 'NFC', 'NFKC', 'StripAccents']);
/** Pre-tokenizers that split at every space: no pre-token crosses one. */
const SPACE_SPLITTERS = new Set(['BertPreTokenizer', 'Whitespace', 'WhitespaceSplit']);
/** Pre-tokenizers that only split further (at punctuation, digits). */
const FURTHER_SPLITTERS = new Set(['Punctuation', 'Digits']);

type Component = { type?: unknown; normalizers?: unknown; pretokenizers?: unknown } | null | undefined;

function parts(c: Component, key: 'normalizers' | 'pretokenizers'): Component[] {
  if (c && c.type === 'Sequence' && Array.isArray(c[key])) return c[key] as Component[];
  return c ? [c] : [];
}

/**
 * True when the tokens of a text cut just before a space are a prefix of the whole text's tokens:
 * every normalizer maps characters one by one, the pre-tokenizers split at every space (so the
 * model sees words that end before the cut whole, and each on its own), and no added token holds
 * a space (one could straddle the cut). Other pipelines (byte-level BPE, SentencePiece's
 * Metaspace and Precompiled, replacements) are tokenised whole.
 */
export function tokensOfHeadArePrefix(tokenizer: { normalizer?: Component; pre_tokenizer?: Component; added_tokens?: { content?: unknown }[] }): boolean {
  const normalizers = parts(tokenizer.normalizer, 'normalizers');
  if (!normalizers.every((n) => n && CHARACTER_NORMALIZERS.has(n.type as string))) return false;
  const pre = parts(tokenizer.pre_tokenizer, 'pretokenizers');
  if (!pre.some((p) => p && SPACE_SPLITTERS.has(p.type as string))) return false;
  if (!pre.every((p) => p && (SPACE_SPLITTERS.has(p.type as string) || FURTHER_SPLITTERS.has(p.type as string)))) return false;
  return (tokenizer.added_tokens ?? []).every((t) => typeof t.content === 'string' && !/\s/.test(t.content));
}

/**
 * Where the post-processor puts one sequence's tokens among its special tokens, read off two probe
 * sequences (one and two tokens long) and used only when both show the same specials around the
 * text: ids then go straight from the word cache into the output, no token strings in between.
 */
class SingleTemplate {
  private constructor(
    private readonly before: Int32Array,
    private readonly after: Int32Array,
    private readonly typesBefore: Int32Array,
    private readonly typesAfter: Int32Array,
    private readonly textType: number,
  ) {}

  static of(post: (a: string[]) => { tokens: string[]; token_type_ids?: number[] }, idOf: (t: string) => number | undefined): SingleTemplate | null {
    const x = '\u0000probe-x';
    const y = '\u0000probe-y';
    const one = post([x]);
    const two = post([x, y]);
    const at = one.tokens.indexOf(x);
    if (at < 0 || one.tokens.lastIndexOf(x) !== at || two.tokens.length !== one.tokens.length + 1) return null;
    const type = (o: typeof one, i: number) => o.token_type_ids?.[i] ?? 0;
    const want = [...one.tokens.slice(0, at + 1), y, ...one.tokens.slice(at + 1)];
    if (want.some((t, i) => t !== two.tokens[i])) return null;
    if (type(two, at + 1) !== type(one, at) || one.tokens.some((_, i) => type(one, i) !== type(two, i <= at ? i : i + 1))) return null;
    const specials = one.tokens.map((t) => (t === x ? -1 : idOf(t)));
    if (specials.some((id) => id === undefined)) return null;
    const ids = Int32Array.from(specials as number[]);
    const types = Int32Array.from(one.tokens, (_, i) => type(one, i));
    return new SingleTemplate(ids.slice(0, at), ids.slice(at + 1), types.slice(0, at), types.slice(at + 1), type(one, at));
  }

  /** Appends the sequence of `ids` with the specials, at most maxLength in all (the text loses its last tokens). */
  encodeInto(ids: readonly number[], maxLength: number, out: EncodedRows): void {
    const budget = maxLength - this.before.length - this.after.length;
    if (budget < 1) throw new RangeError(`max_length ${maxLength} leaves no room for text after the special tokens`);
    const na = Math.min(ids.length, budget);
    for (let i = 0; i < this.before.length; i++) out.push(this.before[i], this.typesBefore[i]);
    for (let i = 0; i < na; i++) out.push(ids[i], this.textType);
    for (let i = 0; i < this.after.length; i++) out.push(this.after[i], this.typesAfter[i]);
  }
}

export class TextTokenizer {
  private readonly specialsSingle: number;
  private readonly specialsPair: number;
  readonly padId: number;
  /** Whether tokenizeHead may cut texts short (tokensOfHeadArePrefix). */
  readonly cutsLongTexts: boolean;
  // characters per token over the heads cut so far (a running mean): where to cut the next text
  private charsPerToken = 4;
  // BERT's pipeline on ASCII texts in plain loops, when the tokenizer is that pipeline
  private readonly ascii: AsciiWordPiece | null;
  // the post-processor's layout of one sequence, for ids straight from AsciiWordPiece
  private readonly single: SingleTemplate | null;

  private constructor(
    private readonly tok: Tokenizer,
    readonly source: TokenizerSource,
    cutsLongTexts: boolean,
    ascii: AsciiWordPiece | null,
  ) {
    this.cutsLongTexts = cutsLongTexts;
    this.ascii = ascii;
    this.specialsSingle = this.postProcess([], null).tokens.length;
    this.specialsPair = this.postProcess([], []).tokens.length;
    this.padId = tok.token_to_id('[PAD]') ?? tok.token_to_id('<pad>') ?? 0;
    this.single = ascii ? SingleTemplate.of((a) => this.postProcess(a, null), (t) => tok.token_to_id(t)) : null;
  }

  /** Parses tokenizer.json (and tokenizer_config.json when the bundle has one); `where` names the file. */
  static fromJson(tokenizerJson: string, configJson: string | null, where: string): TextTokenizer {
    let tokObj: unknown;
    let cfgObj: unknown = {};
    try {
      tokObj = JSON.parse(tokenizerJson);
      if (configJson !== null) cfgObj = JSON.parse(configJson);
    } catch (e) {
      throw new ContractError(`${where}: not JSON (${(e as Error).message})`);
    }
    if (typeof tokObj !== 'object' || tokObj === null || !('model' in tokObj)) {
      throw new ContractError(`${where}: not a Hugging Face tokenizer.json (no "model")`);
    }
    let t: TextTokenizer;
    try {
      const lib = new Tokenizer(tokObj, cfgObj as object);
      const json = tokObj as Parameters<typeof tokensOfHeadArePrefix>[0] & Parameters<typeof AsciiWordPiece.of>[0];
      const ascii = AsciiWordPiece.of(json, cfgObj as object, (lib as unknown as { model?: { tokens_to_ids?: unknown } }).model?.tokens_to_ids, (run) => lib.tokenize(run));
      t = new TextTokenizer(lib, { tokenizerJson, configJson }, tokensOfHeadArePrefix(json), ascii);
      t.encode('tokenizer check', null, 16); // some faults only show when text goes through it
    } catch (e) {
      throw new ContractError(`${where}: the tokenizer does not load: ${(e as Error).message}`);
    }
    return t;
  }

  /** Tokens of one text, no special tokens, no truncation (an ASCII text through AsciiWordPiece when it applies). */
  tokenize(text: string): string[] {
    return this.ascii?.tokenize(text) ?? this.tok.tokenize(text);
  }

  /**
   * The first tokens of `text`: a prefix of tokenize(text) holding at least `need` tokens, or all
   * of them when the text has fewer. Where the pipeline allows it (cutsLongTexts), a long text is
   * cut just before a space past about `need` tokens' worth of characters and only that head is
   * tokenised, cut again twice as far when the head holds too few; truncation to `need` tokens
   * then gives what tokenising the whole text would have.
   */
  tokenizeHead(text: string, need: number): string[] {
    const ascii = this.ascii?.tokenize(text, need); // it stops at the word that completes the head itself
    if (ascii) return ascii;
    if (!this.cutsLongTexts) return this.tok.tokenize(text);
    let last = 0;
    for (let chars = Math.ceil(need * this.charsPerToken * 1.25) + 16; chars < text.length; chars *= 2) {
      const cut = text.lastIndexOf(' ', chars);
      if (cut <= last) continue; // no space, or none past the head already tried
      last = cut;
      const tokens = this.tok.tokenize(text.slice(0, cut));
      if (tokens.length > 0) this.charsPerToken = 0.9 * this.charsPerToken + 0.1 * (cut / tokens.length);
      if (tokens.length >= need) return tokens;
    }
    return this.tok.tokenize(text);
  }

  /**
   * Ids of `text` (and `pair`) with special tokens, at most maxLength in all: the longer text loses
   * tokens from its end first. Only the texts' heads are tokenised (tokenizeHead): longest-first
   * truncation keeps at most maxLength tokens of either, whatever lies past them.
   */
  encode(text: string, pair: string | null, maxLength: number): EncodedText {
    const out = new EncodedRows();
    this.encodeInto(text, pair, maxLength, out);
    return out.sequence(0);
  }

  /** As encode, appending to `out` (plain arrays: many small typed arrays cost more than the tokenising). */
  encodeInto(text: string, pair: string | null, maxLength: number, out: EncodedRows): void {
    if (pair === null && this.single !== null) {
      const ids = this.ascii!.ids(text, maxLength);
      if (ids) {
        this.single.encodeInto(ids, maxLength, out);
        out.end();
        return;
      }
    }
    this.encodeTokensInto(this.tokenizeHead(text, maxLength), pair === null ? null : this.tokenizeHead(pair, maxLength), maxLength, out);
  }

  /** As encode, from tokens already split (tokenizeHead; encoders reuse a query's tokens across labels). */
  encodeTokens(a: readonly string[], b: readonly string[] | null, maxLength: number): EncodedText {
    const out = new EncodedRows();
    this.encodeTokensInto(a, b, maxLength, out);
    return out.sequence(0);
  }

  /** As encodeTokens, appending to `out`. */
  encodeTokensInto(a: readonly string[], b: readonly string[] | null, maxLength: number, out: EncodedRows): void {
    const budget = maxLength - (b === null ? this.specialsSingle : this.specialsPair);
    if (budget < 1) throw new RangeError(`max_length ${maxLength} leaves no room for text after the special tokens`);
    let na = a.length;
    let nb = b === null ? 0 : b.length;
    while (na + nb > budget) {
      if (na >= nb) na--;
      else nb--;
    }
    const post = this.postProcess(a.slice(0, na), b === null ? null : b.slice(0, nb));
    for (let i = 0; i < post.tokens.length; i++) {
      const id = this.tok.token_to_id(post.tokens[i]);
      if (id === undefined) throw new ContractError(`tokenizer produced token "${post.tokens[i]}" that is not in its vocabulary`);
      out.push(id, post.token_type_ids?.[i] ?? 0);
    }
    out.end();
  }

  private postProcess(a: string[], b: string[] | null): { tokens: string[]; token_type_ids?: number[] } {
    const pp = this.tok.post_processor;
    if (pp === null) return { tokens: b === null ? a : a.concat(b) };
    return pp.post_process(a, b, true);
  }
}
