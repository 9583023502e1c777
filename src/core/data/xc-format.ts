/**
 * Extreme Classification Repository format: header `points features labels`, then one row per
 * point `l1,l2,... f:v f:v ...` (0-based ids; a label-less row starts with a space).
 *
 * The reader scans raw bytes chunk by chunk: a large file is read once, never held as one string,
 * and numbers are parsed from char codes without a substring per token. Strings are only built on
 * the error path, to quote the offending token.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { CsrBuilder } from './csr.js';
import { MAX_FEATURES, MAX_LABELS, type Dataset } from './dataset.js';
import { DataFormatError } from '../util/errors.js';
import { sortPairs } from '../util/sort-pairs.js';
import { forEachLine } from '../util/line-reader.js';

const SPACE = 32;
const TAB = 9;
const COMMA = 44;
const COLON = 58;
const MINUS = 45;
const PLUS = 43;
const DOT = 46;
const ZERO = 48;
const INT32_MAX = 2147483647;

// Exact powers of ten: m * 10^k and m / 10^k are correctly rounded while both operands are exact
// (m < 2^53, k <= 22), which is the fast path of parseNumber.
const POW10 = new Float64Array(23);
for (let i = 0, p = 1; i < 23; i++, p *= 10) POW10[i] = p;

function isSpace(c: number): boolean {
  return c === SPACE || c === TAB;
}

function isDigit(c: number): boolean {
  return c >= ZERO && c <= ZERO + 9;
}

/** Quoted token text for messages, cut to a readable length. */
function quote(buf: Buffer, start: number, end: number): string {
  const s = buf.toString('latin1', start, Math.min(end, start + 60));
  return JSON.stringify(end - start > 60 ? s + '...' : s);
}

function tokenEnd(buf: Buffer, p: number, end: number, stopAtComma: boolean): number {
  while (p < end && !isSpace(buf[p]) && !(stopAtComma && buf[p] === COMMA)) p++;
  return p;
}

/** Parser state for one file; feed it lines in order, then call finish(). */
class XcParser {
  points = -1;
  numFeatures = 0;
  numLabels = 0;
  private rows = 0;
  private lastDataLine = 0;
  private blankLine = 0; // first blank line since the last row; an error unless only blanks follow
  private features!: CsrBuilder;
  private labels!: CsrBuilder;
  // one row's entries before sorting: [row nnz]
  private fIdx: Int32Array = new Int32Array(256);
  private fVal: Float32Array = new Float32Array(256);
  private lIdx: Int32Array = new Int32Array(32);
  private pos = 0; // cursor left behind by parseNumber

  constructor(private readonly file: string) {}

  line(buf: Buffer, start: number, end: number, lineNo: number): void {
    if (this.points < 0) {
      this.header(buf, start, end, lineNo);
      return;
    }
    if (start === end) {
      if (this.blankLine === 0) this.blankLine = lineNo;
      return;
    }
    if (this.rows === this.points) {
      this.fail(lineNo, `extra row: the header declares ${this.points} rows`);
    }
    if (this.blankLine !== 0) {
      this.fail(this.blankLine, 'blank line inside the data (a point with no labels and no features is written as a single space)');
    }
    this.row(buf, start, end, lineNo);
    this.rows++;
    this.lastDataLine = lineNo;
  }

  finish(): Dataset {
    if (this.points < 0) this.fail(1, 'empty file: expected a header line "points features labels"');
    if (this.rows < this.points) {
      this.fail(Math.max(1, this.lastDataLine), `file ends after ${this.rows} rows, header declares ${this.points}`);
    }
    return {
      features: this.features.build(this.numFeatures),
      labels: this.labels.build(this.numLabels),
      source: this.file,
    };
  }

  private fail(line: number, problem: string): never {
    throw new DataFormatError(this.file, line, problem);
  }

  private header(buf: Buffer, start: number, end: number, lineNo: number): void {
    const bad = (): never =>
      this.fail(
        lineNo,
        `header must be 3 non-negative integers "points features labels", found ${start === end ? 'a blank line' : quote(buf, start, end)}`,
      );
    const nums = [0, 0, 0];
    let k = 0;
    let p = start;
    for (;;) {
      while (p < end && isSpace(buf[p])) p++;
      if (p >= end) break;
      if (k === 3 || !isDigit(buf[p])) bad();
      let v = 0;
      while (p < end && isDigit(buf[p])) {
        v = v * 10 + buf[p++] - ZERO;
        if (v > INT32_MAX) this.fail(lineNo, `header number ${quote(buf, start, end)} is larger than ${INT32_MAX}`);
      }
      if (p < end && !isSpace(buf[p])) bad();
      nums[k++] = v;
    }
    if (k !== 3) bad();
    if (nums[1] > MAX_FEATURES) this.fail(lineNo, `header declares ${nums[1]} features, more than the limit of ${MAX_FEATURES}`);
    if (nums[2] > MAX_LABELS) this.fail(lineNo, `header declares ${nums[2]} labels, more than the limit of ${MAX_LABELS}`);
    this.points = nums[0];
    this.numFeatures = nums[1];
    this.numLabels = nums[2];
    // the header is untrusted: cap the preallocation (a 20-byte file must not cost 100 MB); the
    // builders double as needed when it was honest
    const rows = Math.min(this.points, 1 << 16);
    this.features = new CsrBuilder(true, rows, Math.min(rows * 32, 1 << 20));
    this.labels = new CsrBuilder(false, rows, Math.min(rows * 4, 1 << 18));
  }

  private row(buf: Buffer, start: number, end: number, lineNo: number): void {
    let p = start;
    let nl = 0;
    let labelsSorted = true;
    if (!isSpace(buf[p])) {
      for (;;) {
        const ts = p;
        if (p >= end || isSpace(buf[p])) this.fail(lineNo, 'trailing comma in the label list');
        const c = buf[p];
        if (c === COMMA) this.fail(lineNo, 'empty label id in the label list (two commas in a row or a leading comma)');
        if (c === MINUS) this.fail(lineNo, `negative label id ${quote(buf, ts, tokenEnd(buf, p, end, true))}`);
        if (!isDigit(c)) {
          this.fail(lineNo, `label id ${quote(buf, ts, tokenEnd(buf, p, end, true))} is not a non-negative integer`);
        }
        let v = 0;
        while (p < end && isDigit(buf[p])) {
          v = v * 10 + buf[p++] - ZERO;
          if (v > INT32_MAX) v = INT32_MAX; // still out of range below; keeps v an exact small int
        }
        if (p < end && buf[p] === COLON) {
          this.fail(lineNo, `expected ',' or a space after label id ${v}, found ':' (a row without labels must start with a space)`);
        }
        if (p < end && buf[p] !== COMMA && !isSpace(buf[p])) {
          this.fail(lineNo, `label id ${quote(buf, ts, tokenEnd(buf, p, end, true))} is not a non-negative integer`);
        }
        if (v >= this.numLabels) {
          this.fail(lineNo, `label id ${quote(buf, ts, p)} out of range [0, ${this.numLabels}) declared in the header`);
        }
        if (nl === this.lIdx.length) this.lIdx = grow(this.lIdx);
        if (nl > 0 && v <= this.lIdx[nl - 1]) labelsSorted = false;
        this.lIdx[nl++] = v;
        if (p >= end || isSpace(buf[p])) break;
        p++; // comma
      }
    }

    let nf = 0;
    let featuresSorted = true;
    let prevId = -1;
    let fIdx = this.fIdx;
    let fVal = this.fVal;
    for (;;) {
      while (p < end && isSpace(buf[p])) p++;
      if (p >= end) break;
      const ts = p;
      const c = buf[p];
      if (c === MINUS) this.fail(lineNo, `negative feature id in ${quote(buf, ts, tokenEnd(buf, p, end, false))}`);
      if (c === COLON) this.fail(lineNo, `feature ${quote(buf, ts, tokenEnd(buf, p, end, false))} has no id before ':'`);
      if (!isDigit(c)) this.fail(lineNo, `feature ${quote(buf, ts, tokenEnd(buf, p, end, false))} is not id:value`);
      let id = 0;
      while (p < end && isDigit(buf[p])) {
        id = id * 10 + buf[p++] - ZERO;
        if (id > INT32_MAX) id = INT32_MAX;
      }
      if (p >= end || isSpace(buf[p])) this.fail(lineNo, `feature ${quote(buf, ts, p)} has no ':value'`);
      if (buf[p] !== COLON) this.fail(lineNo, `feature ${quote(buf, ts, tokenEnd(buf, p, end, false))} is not id:value`);
      p++;
      if (p >= end || isSpace(buf[p])) this.fail(lineNo, `feature ${quote(buf, ts, p)} has no value after ':'`);
      if (id >= this.numFeatures) {
        this.fail(lineNo, `feature id ${quote(buf, ts, p - 1)} out of range [0, ${this.numFeatures}) declared in the header`);
      }
      const vs = p;
      const value = Math.fround(this.parseNumber(buf, p, end));
      if (Number.isNaN(value)) {
        const te = tokenEnd(buf, vs, end, false);
        const word = buf.toString('latin1', vs, te).toLowerCase().replace(/^[+-]/, '');
        const nonFinite = word === 'nan' || word === 'inf' || word === 'infinity';
        this.fail(lineNo, `feature ${id}: value ${quote(buf, vs, te)} is ${nonFinite ? 'not finite' : 'not a number'}`);
      }
      if (value === Infinity || value === -Infinity) {
        this.fail(lineNo, `feature ${id}: value ${quote(buf, vs, this.pos)} is not finite (outside the float32 range)`);
      }
      p = this.pos;
      if (nf === fIdx.length) {
        fIdx = this.fIdx = grow(fIdx);
        fVal = this.fVal = growF(fVal);
      }
      if (id <= prevId) featuresSorted = false;
      prevId = id;
      fIdx[nf] = id;
      fVal[nf++] = value;
    }

    if (!labelsSorted) {
      sortPairs(this.lIdx, null, 0, nl);
      for (let i = 1; i < nl; i++) {
        if (this.lIdx[i] === this.lIdx[i - 1]) this.fail(lineNo, `duplicate label id ${this.lIdx[i]} in the row`);
      }
    }
    if (!featuresSorted) {
      sortPairs(fIdx, fVal, 0, nf);
      for (let i = 1; i < nf; i++) {
        if (fIdx[i] === fIdx[i - 1]) this.fail(lineNo, `duplicate feature id ${fIdx[i]} in the row`);
      }
    }
    for (let i = 0; i < nl; i++) this.labels.push(this.lIdx[i]);
    this.labels.endRow();
    const features = this.features;
    for (let i = 0; i < nf; i++) features.push(fIdx[i], fVal[i]);
    this.features.endRow();
  }

  /**
   * Decimal number at buf[p..] ending at a space or line end; sets this.pos past it. NaN means a
   * syntax error. Up to 15 significant digits and |exponent| <= 22 are computed exactly here;
   * anything longer falls back to parseFloat so the result is always correctly rounded.
   */
  private parseNumber(buf: Buffer, p: number, end: number): number {
    const start = p;
    let neg = false;
    if (buf[p] === MINUS || buf[p] === PLUS) neg = buf[p++] === MINUS;
    let mant = 0;
    let sig = 0;
    let exp = 0;
    let digits = 0;
    let slow = false;
    // one digit loop for both sides of the point: a kept digit after the point lowers the
    // exponent, a dropped digit before it raises it
    let frac = 0; // 1 after the decimal point
    for (; p < end; p++) {
      const c = buf[p];
      if (c === DOT && !frac) {
        frac = 1;
        continue;
      }
      if (!isDigit(c)) break;
      digits++;
      if (sig < 15) {
        mant = mant * 10 + (c - ZERO);
        if (mant !== 0) sig++;
        exp -= frac;
      } else {
        exp += 1 - frac;
        slow = true;
      }
    }
    if (digits === 0) return NaN;
    if (p < end && (buf[p] | 0x20) === 101) {
      p++;
      let eneg = false;
      if (p < end && (buf[p] === MINUS || buf[p] === PLUS)) eneg = buf[p++] === MINUS;
      if (p >= end || !isDigit(buf[p])) return NaN;
      let e = 0;
      while (p < end && isDigit(buf[p])) {
        e = e * 10 + buf[p++] - ZERO;
        if (e > 100000) e = 100000;
      }
      exp += eneg ? -e : e;
    }
    if (p < end && !isSpace(buf[p])) return NaN;
    this.pos = p;
    if (slow || exp > 22 || exp < -22) return parseFloat(buf.toString('latin1', start, p));
    const v = exp < 0 ? mant / POW10[-exp] : mant * POW10[exp];
    return neg ? -v : v;
  }
}

function grow(a: Int32Array): Int32Array {
  const b = new Int32Array(a.length * 2);
  b.set(a);
  return b;
}

function growF(a: Float32Array): Float32Array {
  const b = new Float32Array(a.length * 2);
  b.set(a);
  return b;
}

/** Reads an XC file. Rows come back with ids sorted; every malformed input is a DataFormatError. */
export async function readXcFile(path: string): Promise<Dataset> {
  const parser = new XcParser(path);
  await forEachLine(path, (buf, start, end, lineNo) => parser.line(buf, start, end, lineNo));
  return parser.finish();
}

/**
 * Shortest decimal that reads back as the same float32. Small integers print as is; otherwise
 * precision 6 is tried first (most values need 6-9 digits), then downwards-short or upwards-long precisions.
 */
export function formatFloat32(v: number): string {
  if (Number.isInteger(v) && v < 16777216 && v > -16777216) return String(v); // exact, at most 8 digits
  const at6 = v.toPrecision(6);
  if (Math.fround(Number(at6)) === v) {
    for (let p = 1; p < 6; p++) {
      const s = v.toPrecision(p);
      if (Math.fround(Number(s)) === v) return trimZeros(s);
    }
    return trimZeros(at6);
  }
  for (let p = 7; p < 9; p++) {
    const s = v.toPrecision(p);
    if (Math.fround(Number(s)) === v) return trimZeros(s);
  }
  return trimZeros(v.toPrecision(9));
}

/** "1.50" -> "1.5", "2.00e+5" -> "2e+5": toPrecision pads, the round trip does not need it. */
function trimZeros(s: string): string {
  const e = s.indexOf('e');
  const mant = e < 0 ? s : s.slice(0, e);
  if (mant.indexOf('.') < 0) return s;
  let k = mant.length;
  while (mant.charCodeAt(k - 1) === ZERO) k--;
  if (mant.charCodeAt(k - 1) === DOT) k--;
  return mant.slice(0, k) + (e < 0 ? '' : s.slice(e));
}

/**
 * Streaming XC writer: rows are appended to a string buffer that goes to disk in ~1 MB writes.
 * `row()` returns true when the buffer is full; the caller then awaits `flush()` (backpressure
 * without a promise per row).
 */
export class XcWriter {
  private buf = '';

  private constructor(private readonly fh: FileHandle) {}

  static async create(path: string, points: number, features: number, labels: number): Promise<XcWriter> {
    const w = new XcWriter(await open(path, 'w'));
    w.buf = `${points} ${features} ${labels}\n`;
    return w;
  }

  /** Appends a row from labels[ls, le) and features idx/vals[fs, fe) (vals null: every value 1). */
  row(
    labels: Int32Array,
    ls: number,
    le: number,
    idx: Int32Array,
    vals: Float32Array | null,
    fs: number,
    fe: number,
  ): boolean {
    let s = '';
    for (let p = ls; p < le; p++) s += p === ls ? String(labels[p]) : ',' + labels[p];
    for (let p = fs; p < fe; p++) s += ' ' + idx[p] + ':' + (vals ? formatFloat32(vals[p]) : '1');
    this.buf += (s.length === 0 ? ' ' : s) + '\n';
    return this.buf.length >= 1 << 20;
  }

  async flush(): Promise<void> {
    if (this.buf.length === 0) return;
    const s = this.buf;
    this.buf = '';
    await this.fh.write(s);
  }

  async close(): Promise<void> {
    try {
      await this.flush();
    } finally {
      await this.fh.close();
    }
  }

  /** Closes without flushing, for error paths. */
  async abort(): Promise<void> {
    this.buf = '';
    await this.fh.close();
  }
}

/** Writes a dataset in XC format; floats in shortest round-trip form, so reading gives it back. */
export async function writeXcFile(path: string, d: Dataset): Promise<void> {
  const f = d.features;
  const l = d.labels;
  if (f.rows !== l.rows) throw new Error(`writeXcFile: ${f.rows} feature rows but ${l.rows} label rows`);
  const w = await XcWriter.create(path, f.rows, f.cols, l.cols);
  try {
    for (let r = 0; r < f.rows; r++) {
      if (w.row(l.indices, l.indptr[r], l.indptr[r + 1], f.indices, f.values, f.indptr[r], f.indptr[r + 1])) await w.flush();
    }
  } catch (err) {
    await w.abort();
    throw err;
  }
  await w.close();
}
