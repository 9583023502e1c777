import { mkdtemp, readdir, rm, writeFile, readFile, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cachePathFor, readXcCached } from '../src/core/data/binary-cache.js';
import type { Csr } from '../src/core/data/csr.js';
import type { Dataset } from '../src/core/data/dataset.js';
import { DataFormatError } from '../src/core/util/errors.js';
import { detectFormat, loadTrainTest } from '../src/core/data/load-dataset.js';
import { Rng } from '../src/core/util/rng.js';
import { sortPairs } from '../src/core/util/sort-pairs.js';
import { formatFloat32, readXcFile, writeXcFile } from '../src/core/data/xc-format.js';

const BIBTEX = resolve('../shared/datasets/bibtex/bibtex_mulan_train.txt');
const BIBTEX_TEST = resolve('../shared/datasets/bibtex/bibtex_mulan_test.txt');
const DELICIOUS = resolve('../shared/datasets/delicious/delicious_mulan_train.txt');

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'distilxr-xc-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

let fixtureNo = 0;
async function fixture(text: string): Promise<string> {
  const path = join(dir, `f${fixtureNo++}.txt`);
  await writeFile(path, text);
  return path;
}

/** Reads `text` and expects a DataFormatError at `line` whose message contains `fragment`. */
async function expectBad(text: string, line: number, fragment: string | RegExp): Promise<void> {
  const path = await fixture(text);
  const err = await readXcFile(path).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err, `expected ${JSON.stringify(text)} to be refused`).toBeInstanceOf(DataFormatError);
  const e = err as DataFormatError;
  expect(e.message.startsWith(`${path}:${line}: `), e.message).toBe(true);
  expect(e.line).toBe(line);
  if (typeof fragment === 'string') expect(e.message).toContain(fragment);
  else expect(e.message).toMatch(fragment);
}

function rows(m: Csr): number[][] {
  const out: number[][] = [];
  for (let r = 0; r < m.rows; r++) out.push(Array.from(m.indices.subarray(m.indptr[r], m.indptr[r + 1])));
  return out;
}

function expectSameData(a: Dataset, b: Dataset): void {
  for (const k of ['features', 'labels'] as const) {
    expect(b[k].rows).toBe(a[k].rows);
    expect(b[k].cols).toBe(a[k].cols);
    expect(Array.from(b[k].indptr)).toEqual(Array.from(a[k].indptr));
    expect(Array.from(b[k].indices)).toEqual(Array.from(a[k].indices));
  }
  expect(Array.from(b.features.values!)).toEqual(Array.from(a.features.values!));
  expect(b.labels.values).toBeNull();
}

describe('readXcFile', () => {
  it('parses rows, label-less rows, feature-less rows, unsorted ids and CRLF', async () => {
    const path = await fixture('4 10 5\r\n3,1 7:0.5 2:1.25e1\r\n 0:1 9:-2\r\n4\r\n \r\n');
    const d = await readXcFile(path);
    expect(d.source).toBe(path);
    expect(d.features.rows).toBe(4);
    expect(d.features.cols).toBe(10);
    expect(d.labels.cols).toBe(5);
    expect(rows(d.labels)).toEqual([[1, 3], [], [4], []]);
    expect(rows(d.features)).toEqual([[2, 7], [0, 9], [], []]);
    expect(Array.from(d.features.values!)).toEqual([12.5, 0.5, 1, -2]);
    expect(d.labels.values).toBeNull();
  });

  it('accepts blank lines at the end and a missing final newline', async () => {
    expect((await readXcFile(await fixture('1 3 2\n0 1:1\n\n\n'))).features.rows).toBe(1);
    expect((await readXcFile(await fixture('1 3 2\n0 1:1'))).features.rows).toBe(1);
    expect((await readXcFile(await fixture('0 3 2\n'))).features.rows).toBe(0);
  });

  it('parses long, exponent and signed numbers exactly like parseFloat', async () => {
    const vals = ['0.1', '-3', '+2.5', '1e-30', '123456789012345678', '0.000001234567890123456', '.5', '7.', '1E+3', '3.4028234e38'];
    const line = vals.map((v, i) => `${i}:${v}`).join(' ');
    const d = await readXcFile(await fixture(`1 20 1\n0 ${line}\n`));
    expect(Array.from(d.features.values!)).toEqual(vals.map((v) => Math.fround(parseFloat(v))));
  });

  it('reads a line longer than the read buffer', async () => {
    const n = 400_000; // ~3.5 MB on one line, crosses the 4 MB buffer boundary with the header
    const parts: string[] = [];
    for (let i = 0; i < n; i++) parts.push(`${i}:${(i % 7) + 0.25}`);
    const d = await readXcFile(await fixture(`2 ${n} 2\n1 ${parts.join(' ')}\n0 ${parts.join(' ')}\n`));
    expect(d.features.indptr[2]).toBe(2 * n);
    expect(d.features.values![n - 1]).toBe(((n - 1) % 7) + 0.25);
    expect(rows(d.labels)).toEqual([[1], [0]]);
  });

  it('reads the real bibtex and delicious files', async () => {
    const b = await readXcFile(BIBTEX);
    expect([b.features.rows, b.features.cols, b.labels.cols]).toEqual([4880, 1836, 159]);
    const d = await readXcFile(DELICIOUS);
    expect([d.features.rows, d.features.cols, d.labels.cols]).toEqual([12920, 500, 983]);
    let labelless = 0;
    for (let r = 0; r < d.labels.rows; r++) if (d.labels.indptr[r + 1] === d.labels.indptr[r]) labelless++;
    expect(labelless).toBeGreaterThan(0);
  });
});

describe('malformed XC input', () => {
  const cases: [string, string, number, string | RegExp][] = [
    ['empty file', '', 1, 'empty file'],
    ['garbled header', 'points features labels\n', 1, 'header must be 3 non-negative integers'],
    ['header with 2 numbers', '3 4\n', 1, 'header must be 3'],
    ['header with 4 numbers', '3 4 5 6\n', 1, 'header must be 3'],
    ['negative header', '3 -4 5\n', 1, 'header must be 3'],
    ['fractional header', '3 4.5 5\n', 1, 'header must be 3'],
    ['blank header', '\n0 1:1\n', 1, 'found a blank line'],
    ['more rows than declared', '1 3 2\n0 1:1\n1 2:1\n', 3, 'extra row: the header declares 1 rows'],
    ['fewer rows than declared', '3 3 2\n0 1:1\n1 2:1\n', 3, 'file ends after 2 rows, header declares 3'],
    ['no rows at all', '2 3 2\n', 1, 'file ends after 0 rows, header declares 2'],
    ['fewer rows, trailing blanks', '3 3 2\n0 1:1\n\n\n', 2, 'file ends after 1 rows, header declares 3'],
    ['label out of range', '2 3 2\n0 1:1\n2 1:1\n', 3, 'label id "2" out of range [0, 2)'],
    ['feature out of range', '2 3 2\n0 1:1\n1 3:1\n', 3, 'feature id "3" out of range [0, 3)'],
    ['negative label', '1 3 2\n-1 1:1\n', 2, 'negative label id'],
    ['negative feature', '1 3 2\n0 -1:1\n', 2, 'negative feature id'],
    ['non-numeric value', '1 3 2\n0 1:abc\n', 2, 'value "abc" is not a number'],
    ['value with junk', '1 3 2\n0 1:1.5x\n', 2, 'value "1.5x" is not a number'],
    ['non-numeric label', '1 3 2\nx 1:1\n', 2, 'label id "x" is not a non-negative integer'],
    ['fractional label', '1 3 2\n1.5 1:1\n', 2, 'label id "1.5" is not a non-negative integer'],
    ['non-numeric feature id', '1 3 2\n0 a:1\n', 2, 'feature "a:1" is not id:value'],
    ['NaN value', '1 3 2\n0 1:NaN\n', 2, 'value "NaN" is not finite'],
    ['Inf value', '1 3 2\n0 1:inf\n', 2, 'value "inf" is not finite'],
    ['-Infinity value', '1 3 2\n0 1:-Infinity\n', 2, 'value "-Infinity" is not finite'],
    ['float32 overflow', '1 3 2\n0 1:1e39\n', 2, 'not finite'],
    ['duplicate feature', '1 5 2\n0 3:1 1:1 3:2\n', 2, 'duplicate feature id 3'],
    ['duplicate feature, sorted', '1 5 2\n0 1:1 1:2\n', 2, 'duplicate feature id 1'],
    ['duplicate label', '1 5 2\n1,0,1 3:1\n', 2, 'duplicate label id 1'],
    ['truncated feature "3:"', '1 5 2\n0 3:\n', 2, 'feature "3:" has no value after \':\''],
    ['truncated feature ":1"', '1 5 2\n0 :1\n', 2, 'feature ":1" has no id before \':\''],
    ['truncated feature "3"', '1 5 2\n0 1:1 3\n', 2, 'feature "3" has no \':value\''],
    ['trailing comma in labels', '1 5 2\n0,1, 3:1\n', 2, 'trailing comma'],
    ['trailing comma at line end', '1 5 2\n0,\n', 2, 'trailing comma'],
    ['double comma in labels', '1 5 2\n0,,1 3:1\n', 2, 'empty label id'],
    ['label-less row without leading space', '1 5 2\n3:1 4:1\n', 2, 'a row without labels must start with a space'],
    ['blank line inside the data', '2 5 2\n0 1:1\n\n1 2:1\n', 3, 'blank line inside the data'],
    ['bad row after CRLF rows', '2 5 2\r\n0 1:1\r\n1 2:x\r\n', 3, 'value "x" is not a number'],
  ];
  for (const [name, text, line, fragment] of cases) {
    it(`refuses ${name} at line ${line}`, () => expectBad(text, line, fragment));
  }
});

describe('writeXcFile', () => {
  it('round-trips random data, including empty rows and awkward floats', async () => {
    const rng = new Rng(5);
    const n = 300;
    const indptr = new Int32Array(n + 1);
    const lindptr = new Int32Array(n + 1);
    const fi: number[] = [];
    const fv: number[] = [];
    const li: number[] = [];
    for (let r = 0; r < n; r++) {
      const used = new Set<number>();
      const k = rng.int(12);
      for (let j = 0; j < k; j++) used.add(rng.int(1000));
      for (const f of [...used].sort((a, b) => a - b)) {
        fi.push(f);
        const kind = rng.int(4);
        fv.push(kind === 0 ? 1 : kind === 1 ? rng.normal() * 1e-20 : kind === 2 ? rng.normal() * 1e20 : rng.next());
      }
      indptr[r + 1] = fi.length;
      const labels = new Set<number>();
      const m = rng.int(4);
      for (let j = 0; j < m; j++) labels.add(rng.int(50));
      li.push(...[...labels].sort((a, b) => a - b));
      lindptr[r + 1] = li.length;
    }
    const d: Dataset = {
      features: { rows: n, cols: 1000, indptr, indices: Int32Array.from(fi), values: Float32Array.from(fv) },
      labels: { rows: n, cols: 50, indptr: lindptr, indices: Int32Array.from(li), values: null },
      source: 'mem',
    };
    const path = join(dir, 'roundtrip.txt');
    await writeXcFile(path, d);
    expectSameData(d, await readXcFile(path));
  });

  it('rewrites a real file byte for byte', async () => {
    const path = join(dir, 'delicious-copy.txt');
    await writeXcFile(path, await readXcFile(DELICIOUS));
    expect((await readFile(path)).equals(await readFile(DELICIOUS))).toBe(true);
  });

  it('formats floats in the shortest form that reads back to the same float32', () => {
    expect(formatFloat32(Math.fround(0.1))).toBe('0.1');
    expect(formatFloat32(1)).toBe('1');
    expect(formatFloat32(Math.fround(1e-7))).toBe('1e-7');
    expect(formatFloat32(-2.5)).toBe('-2.5');
    const rng = new Rng(1);
    for (let i = 0; i < 20000; i++) {
      const v = Math.fround(rng.normal() * Math.exp(rng.normal() * 20));
      const s = formatFloat32(v);
      expect(Math.fround(Number(s))).toBe(v);
      // one digit fewer would not round-trip
      // (integers print without exponent; their trailing zeros are not significant digits)
      const digits = s.replace(/e.*$/, '').replace(/[-.]/g, '').replace(/^0+/, '').replace(/0+$/, '').length;
      if (digits > 1) expect(Math.fround(Number(v.toPrecision(digits - 1)))).not.toBe(v);
    }
  });
});

describe('sortPairs', () => {
  it('sorts keys and carries values, matching a reference sort', () => {
    const rng = new Rng(3);
    for (const n of [0, 1, 5, 17, 100, 1000]) {
      const keys = new Int32Array(n);
      const vals = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        keys[i] = rng.int(n * 2 + 1);
        vals[i] = keys[i] + 0.5;
      }
      const ref = Array.from(keys).sort((a, b) => a - b); // from the input: the output must be its permutation
      sortPairs(keys, vals, 0, n);
      expect(Array.from(keys)).toEqual(ref);
      for (let i = 0; i < n; i++) expect(vals[i]).toBe(keys[i] + 0.5);
    }
  });

  it('sorts only [lo, hi) and works without values', () => {
    const rng = new Rng(4);
    const keys = Int32Array.from({ length: 200 }, () => rng.int(50));
    const before = Array.from(keys);
    sortPairs(keys, null, 10, 190);
    expect(Array.from(keys.subarray(10, 190))).toEqual(before.slice(10, 190).sort((a, b) => a - b));
    expect([...keys.subarray(0, 10), ...keys.subarray(190)]).toEqual([...before.slice(0, 10), ...before.slice(190)]);
  });
});

describe('binary cache', () => {
  it('gives back identical arrays and is used on the second load', async () => {
    const cacheDir = join(dir, 'cache1');
    const parsed = await readXcFile(BIBTEX);
    const first = await readXcCached(BIBTEX, cacheDir);
    expectSameData(parsed, first);
    const files = await readdir(cacheDir);
    expect(files).toEqual([(await cachePathFor(BIBTEX, cacheDir)).split('/').pop()]);
    const second = await readXcCached(BIBTEX, cacheDir);
    expectSameData(parsed, second);
    expect(second.source).toBe(BIBTEX);
  });

  it('ignores corrupted and truncated cache files and rewrites them', async () => {
    const cacheDir = join(dir, 'cache2');
    const src = join(dir, 'small.txt');
    await writeFile(src, '3 10 4\n0,2 1:0.5 9:2\n 3:1\n3\n');
    const parsed = await readXcFile(src);
    await readXcCached(src, cacheDir);
    const cacheFile = await cachePathFor(src, cacheDir);
    const good = await readFile(cacheFile);

    // flip a feature value: structure stays valid, only the checksum can tell
    const flipped = Buffer.from(good);
    flipped.writeFloatLE(7, 32 + 4 * 4 + 4 * 3); // header, features.indptr [4], features.indices [3]
    await writeFile(cacheFile, flipped);
    expectSameData(parsed, await readXcCached(src, cacheDir));
    expect((await readFile(cacheFile)).equals(good)).toBe(true);

    for (const broken of [good.subarray(0, good.length - 7), good.subarray(0, 10), Buffer.alloc(0), Buffer.from('garbage')]) {
      await writeFile(cacheFile, broken);
      expectSameData(parsed, await readXcCached(src, cacheDir));
      expect((await readFile(cacheFile)).equals(good)).toBe(true);
    }
  });

  it('misses when the source file changes', async () => {
    const cacheDir = join(dir, 'cache3');
    const src = join(dir, 'changing.txt');
    await writeFile(src, '1 10 4\n0 1:1\n');
    await readXcCached(src, cacheDir);
    await writeFile(src, '1 10 4\n2 5:3\n');
    await utimes(src, new Date(), new Date(Date.now() + 5000));
    const d = await readXcCached(src, cacheDir);
    expect(rows(d.labels)).toEqual([[2]]);
    expect(Array.from(d.features.values!)).toEqual([3]);
  });
});

describe('loadTrainTest (XC)', () => {
  it('loads the bibtex split and agrees on the feature space', async () => {
    const { train, test, featurizer } = await loadTrainTest(BIBTEX, BIBTEX_TEST, { cacheDir: false });
    expect(featurizer).toBeUndefined();
    expect(train.features.rows).toBe(4880);
    expect(test!.features.rows).toBe(2515);
    expect(test!.features.cols).toBe(1836);
    expect(test!.labels.cols).toBe(159);
    expect(await detectFormat(BIBTEX)).toBe('xc');
  });

  it('widens test labels past the training labels, refuses more test features', async () => {
    const train = await fixture('2 5 3\n0 1:1\n2 4:1\n');
    const wider = await fixture('1 5 6\n5 1:1\n');
    const narrower = await fixture('1 3 2\n1 1:1\n');
    const { test } = await loadTrainTest(train, wider, { cacheDir: false });
    expect(test!.labels.cols).toBe(6);
    const t2 = (await loadTrainTest(train, narrower, { cacheDir: false })).test!;
    expect([t2.features.cols, t2.labels.cols]).toEqual([5, 3]);
    const tooMany = await fixture('1 6 3\n1 1:1\n');
    await expect(loadTrainTest(train, tooMany, { cacheDir: false })).rejects.toThrow(`${tooMany}:1: header declares 6 features`);
  });
});
