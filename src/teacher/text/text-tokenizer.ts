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
      const ascii = AsciiWordPiece.of(json, cfgObj as object, (lib as unknown as { model?: { tokens_to_ids?: unknown } }).model?.tokens_to_ids);
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
    if (!this.cutsLongTexts) return this.tokenize(text);
    let last = 0;
    for (let chars = Math.ceil(need * this.charsPerToken * 1.25) + 16; chars < text.length; chars *= 2) {
      const cut = text.lastIndexOf(' ', chars);
      if (cut <= last) continue; // no space, or none past the head already tried
      last = cut;
      const tokens = this.tokenize(text.slice(0, cut));
      if (tokens.length > 0) this.charsPerToken = 0.9 * this.charsPerToken + 0.1 * (cut / tokens.length);
      if (tokens.length >= need) return tokens;
    }
    return this.tokenize(text);
  }

  /**
   * Ids of `text` (and `pair`) with special tokens, at most maxLength in all: the longer text loses
   * tokens from its end first. Only the texts' heads are tokenised (tokenizeHead): longest-first
   * truncation keeps at most maxLength tokens of either, whatever lies past them.
   */
  encode(text: string, pair: string | null, maxLength: number): EncodedText {
    return this.encodeTokens(this.tokenizeHead(text, maxLength), pair === null ? null : this.tokenizeHead(pair, maxLength), maxLength);
  }

  /** As encode, from tokens already split (tokenizeHead; encoders reuse a query's tokens across labels). */
  encodeTokens(a: readonly string[], b: readonly string[] | null, maxLength: number): EncodedText {
    const budget = maxLength - (b === null ? this.specialsSingle : this.specialsPair);
    if (budget < 1) throw new RangeError(`max_length ${maxLength} leaves no room for text after the special tokens`);
    let na = a.length;
    let nb = b === null ? 0 : b.length;
    while (na + nb > budget) {
      if (na >= nb) na--;
      else nb--;
    }
    const out = this.postProcess(a.slice(0, na), b === null ? null : b.slice(0, nb));
    const n = out.tokens.length;
    const ids = new Int32Array(n);
    const typeIds = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const id = this.tok.token_to_id(out.tokens[i]);
      if (id === undefined) throw new ContractError(`tokenizer produced token "${out.tokens[i]}" that is not in its vocabulary`);
      ids[i] = id;
      typeIds[i] = out.token_type_ids?.[i] ?? 0;
    }
    return { ids, typeIds };
  }

  private postProcess(a: string[], b: string[] | null): { tokens: string[]; token_type_ids?: number[] } {
    const pp = this.tok.post_processor;
    if (pp === null) return { tokens: b === null ? a : a.concat(b) };
    return pp.post_process(a, b, true);
  }
}
