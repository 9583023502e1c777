/**
 * A Hugging Face tokenizer.json read offline with @huggingface/tokenizers, plus what that library
 * leaves to the caller: truncation to max_length (longest-first for pairs, as the Rust library
 * does) before the post-processor adds the special tokens, and token ids as numbers.
 */
import { Tokenizer } from '@huggingface/tokenizers';
import { ContractError } from '../../core/util/errors.js';

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

export class TextTokenizer {
  private readonly specialsSingle: number;
  private readonly specialsPair: number;
  readonly padId: number;

  private constructor(
    private readonly tok: Tokenizer,
    readonly source: TokenizerSource,
  ) {
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
      t = new TextTokenizer(new Tokenizer(tokObj, cfgObj as object), { tokenizerJson, configJson });
      t.encode('tokenizer check', null, 16); // some faults only show when text goes through it
    } catch (e) {
      throw new ContractError(`${where}: the tokenizer does not load: ${(e as Error).message}`);
    }
    return t;
  }

  /** Tokens of one text, no special tokens, no truncation. */
  tokenize(text: string): string[] {
    return this.tok.tokenize(text);
  }

  /**
   * Ids of `text` (and `pair`) with special tokens, at most maxLength in all: the longer text loses
   * tokens from its end first.
   */
  encode(text: string, pair: string | null, maxLength: number): EncodedText {
    return this.encodeTokens(this.tokenize(text), pair === null ? null : this.tokenize(pair), maxLength);
  }

  /** As encode, from tokens already split (encoders reuse a query's tokens across labels). */
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
