/**
 * TextTokenizer.tokenizeHead tokenises only the head of a long text: its tokens must be a prefix
 * of the whole text's, long enough for truncation, so encode gives the ids that tokenising every
 * text whole gave (the Python reference test pins those too). AsciiWordPiece tokenises ASCII words
 * itself (and hands runs holding other characters to the library): its tokens must be the library's,
 * and encode's ids straight from it the ids of the library's tokens. Checked on the fixture bundles' tokenizers over real
 * texts and random strings full of the characters that could break a cut or a rule.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { Tokenizer } from '@huggingface/tokenizers';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AsciiWordPiece } from '../src/teacher/text/ascii-word-piece.js';
import { TextTokenizer, tokensOfHeadArePrefix } from '../src/teacher/text/text-tokenizer.js';

const FIXTURES = fileURLToPath(new URL('./fixtures/text-teachers/', import.meta.url));
const KINDS = ['classifier', 'cross-encoder', 'bi-encoder'] as const;

async function tokenizerOf(kind: string): Promise<TextTokenizer> {
  const json = await readFile(`${FIXTURES}${kind}/tokenizer.json`, 'utf8');
  const config = await readFile(`${FIXTURES}${kind}/tokenizer_config.json`, 'utf8');
  return TextTokenizer.fromJson(json, config, kind);
}

async function libraryOf(kind: string): Promise<{ lib: Tokenizer; ascii: AsciiWordPiece }> {
  const json = JSON.parse(await readFile(`${FIXTURES}${kind}/tokenizer.json`, 'utf8'));
  const config = JSON.parse(await readFile(`${FIXTURES}${kind}/tokenizer_config.json`, 'utf8'));
  const lib = new Tokenizer(json, config);
  const ascii = AsciiWordPiece.of(json, config, (lib as unknown as { model: { tokens_to_ids: unknown } }).model.tokens_to_ids, (r) => lib.tokenize(r));
  expect(ascii).not.toBeNull();
  return { lib, ascii: ascii! };
}

async function miniTexts(): Promise<string[]> {
  const out: string[] = [];
  for (const f of ['train.jsonl', 'test.jsonl']) {
    const text = await readFile(new URL(`./fixtures/text-mini/${f}`, import.meta.url), 'utf8');
    for (const l of text.split('\n')) if (l.trim()) out.push((JSON.parse(l) as { text: string }).text);
  }
  return out;
}

/** What tokenizeHead promises: a prefix of the whole text's tokens (the library's), with `need` of them or all. */
function expectHead(tok: TextTokenizer, lib: Tokenizer, text: string, need: number): void {
  const whole = lib.tokenize(text);
  const head = tok.tokenizeHead(text, need);
  expect(head.length).toBeGreaterThanOrEqual(Math.min(need, whole.length));
  expect(head).toEqual(whole.slice(0, head.length));
}

// words, spaces of every kind, accents (composed and combining), CJK, punctuation, digits, an
// emoji's surrogate pair, control characters and the special tokens written out
const PIECES = ['game', 'strategy', 'réal-time', 'cafe\u0301', 'ÉCOLE', '日本語', '3D', '1,000', 'x11', '(RTS)', 'don\'t', '👍', '[CLS]', '[SEP]', '[MASK]', '[UNK]', '\u0000', '\u200b', 'ﬁ', ' ', ' ', ' ', '  ', '\t', '\n', '\u00a0', '\u3000', '.', '-', '/'];
const text = fc.array(fc.constantFrom(...PIECES), { maxLength: 400 }).map((p) => p.join(''));

describe('tokenizeHead', () => {
  it.each(KINDS)('%s: the fixture tokenizer cuts long texts, and every head of a real text is a prefix of its tokens', async (kind) => {
    const tok = await tokenizerOf(kind);
    const { lib } = await libraryOf(kind);
    expect(tok.cutsLongTexts).toBe(true);
    for (const t of await miniTexts()) {
      for (const need of [1, 8, 32, 100, 1000]) expectHead(tok, lib, t, need);
    }
  });

  it.each(KINDS)('%s: random texts: heads are prefixes, and encode gives the ids of the whole texts', async (kind) => {
    const tok = await tokenizerOf(kind);
    const { lib } = await libraryOf(kind);
    fc.assert(
      fc.property(text, text, fc.integer({ min: 1, max: 60 }), fc.integer({ min: 4, max: 48 }), (a, b, need, maxLength) => {
        expectHead(tok, lib, a, need);
        // encode from heads (single: ids straight from the word cache) against the library's tokens of whole texts, single and paired
        expect(tok.encode(a, null, maxLength)).toEqual(tok.encodeTokens(lib.tokenize(a), null, maxLength));
        expect(tok.encode(a, b, maxLength)).toEqual(tok.encodeTokens(lib.tokenize(a), lib.tokenize(b), maxLength));
      }),
      { numRuns: 300, seed: 11 },
    );
  });

  it('cuts only where the pipeline keeps words apart', () => {
    const bert = { normalizer: { type: 'BertNormalizer' }, pre_tokenizer: { type: 'BertPreTokenizer' }, added_tokens: [{ content: '[CLS]' }] };
    expect(tokensOfHeadArePrefix(bert)).toBe(true);
    expect(tokensOfHeadArePrefix({ normalizer: null, pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'Whitespace' }, { type: 'Digits' }] } })).toBe(true);
    expect(tokensOfHeadArePrefix({ normalizer: { type: 'Sequence', normalizers: [{ type: 'NFD' }, { type: 'Lowercase' }, { type: 'StripAccents' }] }, pre_tokenizer: { type: 'WhitespaceSplit' } })).toBe(true);
    // byte-level BPE, SentencePiece, a replacement, no split at spaces, an added token with a space
    expect(tokensOfHeadArePrefix({ normalizer: null, pre_tokenizer: { type: 'ByteLevel' } })).toBe(false);
    expect(tokensOfHeadArePrefix({ normalizer: { type: 'Precompiled' }, pre_tokenizer: { type: 'Metaspace' } })).toBe(false);
    expect(tokensOfHeadArePrefix({ ...bert, normalizer: { type: 'Sequence', normalizers: [{ type: 'Replace' }, { type: 'Lowercase' }] } })).toBe(false);
    expect(tokensOfHeadArePrefix({ normalizer: null, pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'Punctuation' }] } })).toBe(false);
    expect(tokensOfHeadArePrefix({ normalizer: null, pre_tokenizer: null })).toBe(false);
    expect(tokensOfHeadArePrefix({ ...bert, added_tokens: [{ content: '[CLS]' }, { content: 'new york' }] })).toBe(false);
  });
});

// every ASCII character (controls included), words of the vocabulary and not, the special tokens
const ASCII_PIECES = [...Array.from({ length: 128 }, (_, c) => String.fromCharCode(c)), 'game', 'Strategy', 'REAL-TIME', 'x11', 'gtk+', 'C++', 'e-mail', '[', ']', 'x'.repeat(101), 'ab'.repeat(60), '  ', 'qzxjv'];
const asciiText = fc.array(fc.constantFrom(...ASCII_PIECES), { maxLength: 200 }).map((p) => p.join(''));

describe('AsciiWordPiece', () => {
  it.each(KINDS)('%s: real texts get the tokens of @huggingface/tokenizers, and most are ASCII', async (kind) => {
    const { lib, ascii } = await libraryOf(kind);
    const tok = await tokenizerOf(kind);
    let mine = 0;
    for (const t of await miniTexts()) {
      if (ascii.tokenize(t) !== null) mine++;
      expect(tok.tokenize(t)).toEqual(lib.tokenize(t));
    }
    expect(mine).toBeGreaterThan(300);
  });

  it.each(KINDS)('%s: random ASCII texts get the tokens of @huggingface/tokenizers', async (kind) => {
    const { lib, ascii } = await libraryOf(kind);
    let mine = 0;
    fc.assert(
      fc.property(asciiText, (t) => {
        const got = ascii.tokenize(t);
        if (got !== null) mine++;
        expect(got ?? lib.tokenize(t)).toEqual(lib.tokenize(t));
      }),
      { numRuns: 1000, seed: 7 },
    );
    expect(mine).toBeGreaterThan(900);
    expect(ascii.tokenize('Some [CLS] text')).toBeNull(); // an added token's text, in any case: the library's
    expect(ascii.tokenize('some [cls] text')).toBeNull();
    expect(ascii.tokenize('un café noir')).toEqual(lib.tokenize('un café noir')); // a run with a character above 127: the library's tokens for it
    expect(ascii.tokenize(`a ${'x'.repeat(101)} b`)).toEqual(lib.tokenize(`a ${'x'.repeat(101)} b`)); // a word over max_input_chars_per_word
  });

  it.each(KINDS)('%s: random texts of every kind of character: tokens and ids are the library\'s, heads stop at a word', async (kind) => {
    const { lib, ascii } = await libraryOf(kind);
    let mine = 0;
    fc.assert(
      fc.property(text, fc.integer({ min: 1, max: 60 }), (t, need) => {
        const whole = lib.tokenize(t);
        const got = ascii.tokenize(t);
        if (got === null) return; // an added token's text
        mine++;
        expect(got).toEqual(whole);
        const head = ascii.ids(t, need)!;
        expect(head.length).toBeGreaterThanOrEqual(Math.min(need, whole.length));
        expect(head).toEqual(whole.slice(0, head.length).map((w: string) => lib.token_to_id(w)));
      }),
      { numRuns: 500, seed: 5 },
    );
    expect(mine).toBeGreaterThan(100);
  });

  it('applies to exactly BertNormalizer (clean_text) + BertPreTokenizer + WordPiece', () => {
    const json = { normalizer: { type: 'BertNormalizer', clean_text: true, lowercase: true }, pre_tokenizer: { type: 'BertPreTokenizer' }, model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##' } };
    const vocab = new Map([['[UNK]', 0]]);
    const lib = () => ['[UNK]'];
    expect(AsciiWordPiece.of(json, {}, vocab, lib)).not.toBeNull();
    // an added token with a space could be matched across runs: texts with other characters then go to the library whole
    expect(AsciiWordPiece.of({ ...json, added_tokens: [{ content: 'new york' }] }, {}, vocab, lib)!.tokenize('a é b')).toBeNull();
    expect(AsciiWordPiece.of(json, {}, vocab, lib)!.tokenize('a é b')).toEqual(['[UNK]', '[UNK]', '[UNK]']);
    expect(AsciiWordPiece.of({ ...json, normalizer: { ...json.normalizer, clean_text: false } }, {}, vocab, lib)).toBeNull();
    expect(AsciiWordPiece.of({ ...json, pre_tokenizer: { type: 'Whitespace' } }, {}, vocab, lib)).toBeNull();
    expect(AsciiWordPiece.of({ ...json, model: { ...json.model, type: 'BPE' } }, {}, vocab, lib)).toBeNull();
    expect(AsciiWordPiece.of(json, { remove_space: true }, vocab, lib)).toBeNull();
    expect(AsciiWordPiece.of(json, {}, undefined, lib)).toBeNull();
  });
});
