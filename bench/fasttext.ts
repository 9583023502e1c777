/**
 * Debian's `fasttext` (0.9.2) as the reference baseline. XC data → fastText's supervised format: one line per point,
 * `__label__<id> ... f<feature> ...` (each present feature once: the datasets here are binary;
 * a non-binary value is dropped to presence). JSONL text → the same format on the raw text, as
 * ../shared/peers did it: lowercased, runs of word characters (Python's `\b\w+\b`), single spaces
 * (see {@link fasttextEvaluateText}). Metrics come from our own `evaluateRankings`, so fastText and
 * the student are scored by the same code.
 */
import { spawnSync } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { once } from 'node:events';
import type { Dataset } from '../src/core/data/dataset.js';
import type { Csr } from '../src/core/data/csr.js';
import { selectRows } from '../src/core/data/csr.js';
import { readJsonlRecords } from '../src/core/data/jsonl-format.js';
import { computePropensities, evaluateRankings, type MetricReport } from '../src/core/model/metrics.js';
import { run } from './lib.js';

export type FasttextLoss = 'ova' | 'ns' | 'hs';

/** fastText's loss names: 0.9.2 spells one-vs-all out in full. */
const LOSS_FLAG: Record<FasttextLoss, string> = { ova: 'one-vs-all', ns: 'ns', hs: 'hs' };

/** fastText's default `-bucket` (hash buckets for word n-grams and subwords). */
export const FASTTEXT_DEFAULT_BUCKET = 2_000_000;

/** Makes sure `fasttext` is on PATH (apt-get install, with an `apt-get update` retry); returns its path. */
export function ensureFasttext(): string {
  const which = (): string => spawnSync('sh', ['-c', 'command -v fasttext'], { encoding: 'utf8' }).stdout.trim();
  let path = which();
  if (path) return path;
  process.stderr.write('fasttext not found: apt-get install -y fasttext\n');
  const install = (): number | null => spawnSync('apt-get', ['install', '-y', 'fasttext'], { stdio: 'inherit' }).status;
  if (install() !== 0) {
    spawnSync('apt-get', ['update'], { stdio: 'inherit' });
    if (install() !== 0) throw new Error('apt-get install -y fasttext failed');
  }
  path = which();
  if (!path) throw new Error('fasttext still not on PATH after apt-get install');
  return path;
}

/** Rows [start, end) of a dataset (features and labels). */
export function sliceRows(d: Dataset, start: number, end: number): Dataset {
  const ids = new Int32Array(end - start);
  for (let i = 0; i < ids.length; i++) ids[i] = start + i;
  return { features: selectRows(d.features, ids), labels: selectRows(d.labels, ids), source: `${d.source}[${start}:${end}]` };
}

/**
 * Writes `d` in fastText's supervised format. withLabels = false writes features only (for
 * prediction); an empty feature row becomes an empty line, so line i is still point i.
 */
export async function writeFasttextFile(d: Dataset, path: string, withLabels: boolean): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const out = createWriteStream(path);
  const { features: f, labels: y } = d;
  let chunk = '';
  for (let r = 0; r < f.rows; r++) {
    const parts: string[] = [];
    if (withLabels) for (let p = y.indptr[r]; p < y.indptr[r + 1]; p++) parts.push(`__label__${y.indices[p]}`);
    for (let p = f.indptr[r]; p < f.indptr[r + 1]; p++) parts.push(`f${f.indices[p]}`);
    chunk += parts.join(' ') + '\n';
    if (chunk.length > 1 << 20) {
      if (!out.write(chunk)) await once(out, 'drain');
      chunk = '';
    }
  }
  out.end(chunk);
  await once(out, 'finish');
}

export interface FasttextTrainOptions {
  input: string;
  /** Output prefix; fastText writes `<output>.bin`. */
  output: string;
  loss: FasttextLoss;
  dim: number;
  epoch: number;
  lr: number;
  thread: number;
  seed?: number;
  /** Negatives per example for `ns` (fastText's -neg). @defaultValue 5 */
  neg?: number;
  /** Word n-gram length (fastText's -wordNgrams). @defaultValue 1 */
  wordNgrams?: number;
  /**
   * Hash buckets for word n-grams (fastText's -bucket). 0 (the default here) when the features are
   * XC ids, where there are no n-grams; word n-grams need buckets (fastText's own default is
   * {@link FASTTEXT_DEFAULT_BUCKET}). @defaultValue 0
   */
  bucket?: number;
}

/** fastText stopped with `EncounteredNaNError`: the learning rate is too high for this data. */
export class FasttextDivergedError extends Error {
  constructor(readonly lr: number, readonly loss: FasttextLoss) {
    super(`fasttext ${loss} diverged (NaN) at lr ${lr}`);
  }
}

/**
 * `fasttext supervised ...`; returns the wall seconds of the whole process (reading the file
 * included). Throws FasttextDivergedError when fastText hits a NaN.
 */
export async function trainFasttext(o: FasttextTrainOptions): Promise<number> {
  await mkdir(dirname(o.output), { recursive: true });
  const args = [
    'supervised', '-input', o.input, '-output', o.output,
    '-dim', String(o.dim), '-epoch', String(o.epoch), '-lr', String(o.lr), '-thread', String(o.thread),
    '-loss', LOSS_FLAG[o.loss], '-minCount', '1', '-bucket', String(o.bucket ?? 0), '-seed', String(o.seed ?? 1), '-verbose', '0',
    '-neg', String(o.neg ?? 5), '-wordNgrams', String(o.wordNgrams ?? 1),
  ];
  try {
    return (await run('fasttext', args)).seconds;
  } catch (e) {
    if (e instanceof Error && e.message.includes('EncounteredNaNError')) throw new FasttextDivergedError(o.lr, o.loss);
    throw e;
  }
}

/**
 * `fasttext predict-prob MODEL TEST k` → [rows, k] label ids best first, -1 where fastText gave
 * fewer than k. Throws unless it printed exactly one line per test row.
 */
async function predictFasttext(model: string, testFile: string, rows: number, k: number): Promise<Int32Array> {
  return (await predictFasttextTimed(model, testFile, rows, k)).predicted;
}

/** {@link predictFasttext} and the wall seconds of the `fasttext predict-prob` process. */
async function predictFasttextTimed(model: string, testFile: string, rows: number, k: number): Promise<{ predicted: Int32Array; seconds: number }> {
  const r = await run('fasttext', ['predict-prob', model, testFile, String(k)]);
  const lines = r.stdout.split('\n');
  if (lines.length && lines[lines.length - 1] === '') lines.pop();
  if (lines.length !== rows) throw new Error(`fasttext predict printed ${lines.length} lines for ${rows} test rows`);
  const out = new Int32Array(rows * k).fill(-1);
  for (let i = 0; i < rows; i++) {
    const tok = lines[i].split(' ');
    let j = 0;
    for (const t of tok) {
      if (!t.startsWith('__label__')) continue; // probabilities
      if (j < k) out[i * k + j++] = Number(t.slice(9));
    }
  }
  return { predicted: out, seconds: r.seconds };
}

/** Metrics of predictions against `truth`, propensities from the training labels. */
export function score(predicted: Int32Array, k: number, truth: Csr, trainLabels: Csr): MetricReport {
  const numLabels = Math.max(truth.cols, trainLabels.cols);
  const truthWide: Csr = truth.cols === numLabels ? truth : { ...truth, cols: numLabels };
  return evaluateRankings(predicted, k, truthWide, computePropensities(trainLabels, numLabels));
}

export interface FasttextResult {
  loss: FasttextLoss;
  lr: number;
  /** Validation P@1 of every learning rate tried (last 10% of train held out); null = diverged (NaN). */
  lrGrid: Record<string, number | null>;
  trainSeconds: number;
  metrics: MetricReport;
}

/**
 * fastText on one split: learning rate picked by P@1 on the last 10% of the training file (trained on
 * the first 90%) over `lrGrid`, extended by halving / doubling (up to `maxExtensions`, default 3)
 * while the best rate sits at an edge and keeps improving; then retrained on all of train and
 * scored on test. Files go under `workDir`.
 */
export async function fasttextEvaluate(
  train: Dataset,
  test: Dataset,
  workDir: string,
  o: { loss: FasttextLoss; dim: number; epoch: number; thread: number; lrGrid: number[]; k?: number; maxExtensions?: number },
): Promise<FasttextResult> {
  const k = o.k ?? 100;
  const n = train.features.rows;
  const cut = Math.floor(n * 0.9);
  const fit = sliceRows(train, 0, cut);
  const val = sliceRows(train, cut, n);
  const files = {
    fit: join(workDir, 'ft-fit.txt'),
    val: join(workDir, 'ft-val.txt'),
    train: join(workDir, 'ft-train.txt'),
    test: join(workDir, 'ft-test.txt'),
  };
  await writeFasttextFile(fit, files.fit, true);
  await writeFasttextFile(val, files.val, false);
  await writeFasttextFile(train, files.train, true);
  await writeFasttextFile(test, files.test, false);

  const grid: Record<string, number | null> = {};
  let best = NaN;
  let bestP1 = -1;
  /** Validation P@1 at `lr`, or null when fastText diverged; updates best. */
  const tryLr = async (lr: number): Promise<number | null> => {
    const model = join(workDir, `ft-${o.loss}-val-lr${lr}`);
    try {
      await trainFasttext({ input: files.fit, output: model, loss: o.loss, dim: o.dim, epoch: o.epoch, lr, thread: o.thread });
    } catch (e) {
      if (!(e instanceof FasttextDivergedError)) throw e;
      grid[String(lr)] = null;
      process.stderr.write(`  fasttext ${o.loss} lr ${lr}: diverged (NaN)\n`);
      return null;
    }
    const pred = await predictFasttext(`${model}.bin`, files.val, val.features.rows, k);
    const p1 = score(pred, k, val.labels, fit.labels)['p@1'];
    grid[String(lr)] = p1;
    process.stderr.write(`  fasttext ${o.loss} lr ${lr}: validation P@1 ${(100 * p1).toFixed(2)}\n`);
    if (p1 > bestP1) {
      bestP1 = p1;
      best = lr;
    }
    return p1;
  };
  for (const lr of o.lrGrid) await tryLr(lr);
  // Best at an edge of the grid: extend that way (halve / double) while validation P@1 improves.
  let lo = Math.min(...o.lrGrid);
  let hi = Math.max(...o.lrGrid);
  for (let ext = 0; ext < (o.maxExtensions ?? 3); ext++) {
    const before = bestP1;
    if (best === lo) await tryLr((lo /= 2));
    else if (best === hi && grid[String(hi)] !== null) await tryLr((hi *= 2));
    else break;
    if (!(bestP1 > before)) break;
  }
  if (Number.isNaN(best)) throw new Error(`fasttext ${o.loss} diverged at every learning rate of ${o.lrGrid.join(', ')}`);
  return { ...(await fasttextTrainAndScore(files.train, files.test, train, test, workDir, { ...o, lr: best, k })), lrGrid: grid };
}

/** Trains on the whole training file at learning rate `o.lr` and scores the top k on test. */
async function fasttextTrainAndScore(
  trainFile: string,
  testFile: string,
  train: Dataset,
  test: Dataset,
  workDir: string,
  o: { loss: FasttextLoss; dim: number; epoch: number; thread: number; lr: number; k: number },
): Promise<Omit<FasttextResult, 'lrGrid'>> {
  const model = join(workDir, `ft-${o.loss}`);
  const trainSeconds = await trainFasttext({ input: trainFile, output: model, loss: o.loss, dim: o.dim, epoch: o.epoch, lr: o.lr, thread: o.thread });
  const pred = await predictFasttext(`${model}.bin`, testFile, test.features.rows, o.k);
  return { loss: o.loss, lr: o.lr, trainSeconds, metrics: score(pred, o.k, test.labels, train.labels) };
}

/**
 * fastText on one split at a given learning rate (no search: e.g. the rate {@link fasttextEvaluate}
 * picked on an earlier run); lrGrid in the result is empty.
 */
export async function fasttextEvaluateAtLr(
  train: Dataset,
  test: Dataset,
  workDir: string,
  o: { loss: FasttextLoss; dim: number; epoch: number; thread: number; lr: number; k?: number },
): Promise<FasttextResult> {
  const files = { train: join(workDir, 'ft-train.txt'), test: join(workDir, 'ft-test.txt') };
  await writeFasttextFile(train, files.train, true);
  await writeFasttextFile(test, files.test, false);
  return { ...(await fasttextTrainAndScore(files.train, files.test, train, test, workDir, { ...o, k: o.k ?? 100 })), lrGrid: {} };
}

/** Runs of word characters: Python's `\w` on str (Unicode letters, digits and numerals, underscore). */
const WORD = /[\p{L}\p{N}_]+/gu;

/**
 * Raw text as fastText reads it in ../shared/peers: lowercased, tokens = Python's
 * `re.findall(r'(?u)\b\w+\b', text)`, joined by single spaces.
 */
export function fasttextTokens(text: string): string {
  return (text.toLowerCase().match(WORD) ?? []).join(' ');
}

/**
 * Writes a JSONL text file in fastText's supervised format: per record, `__label__<id>` for each
 * of its labels (id = `labelIds.get(name)`, ascending ids; withLabels = false: none), then
 * {@link fasttextTokens} of its text. Line i is record i. Throws on a label `labelIds` lacks.
 * Ascending ids is how ../shared/peers wrote its fastText input, and the order matters: with the
 * records' own label order fastText's model comes out slightly different (debtags ova -wordNgrams 2:
 * the same top-10 as the peer's file on 4295 of 4518 test rows; ascending: on all of them).
 */
export async function writeFasttextTextFile(jsonl: string, path: string, labelIds: ReadonlyMap<string, number>, withLabels: boolean): Promise<number> {
  await mkdir(dirname(path), { recursive: true });
  const out = createWriteStream(path);
  const lines: string[] = [];
  let rows = 0;
  await readJsonlRecords(jsonl, (text, labels, line) => {
    const parts: string[] = [];
    if (withLabels) {
      const ids = labels.map((l) => {
        const id = labelIds.get(String(l));
        if (id === undefined) throw new Error(`${jsonl}:${line}: label ${JSON.stringify(l)} has no fastText label id`);
        return id;
      });
      for (const id of ids.sort((a, b) => a - b)) parts.push(`__label__${id}`);
    }
    const tokens = fasttextTokens(text);
    if (tokens) parts.push(tokens);
    lines.push(parts.join(' '));
    rows++;
  });
  for (let i = 0; i < lines.length; i += 10_000) {
    if (!out.write(lines.slice(i, i + 10_000).join('\n') + '\n')) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  return rows;
}

/** fastText settings of a text run (see ../shared/peers/peers.json for the peers' ones). */
export interface FasttextTextOptions {
  loss: FasttextLoss;
  dim: number;
  epoch: number;
  lr: number;
  wordNgrams: number;
  thread: number;
  seed?: number;
  /** Predictions per test row. @defaultValue 10 (what the peers exported) */
  k?: number;
}

export interface FasttextTextResult {
  /** The `fasttext supervised` arguments after `-input … -output …`, for the record. */
  args: FasttextTextOptions & { bucket: number };
  trainSeconds: number;
  predictSeconds: number;
  /** [test rows, k] predictions in fastText's own label ids (before mapping to ours). */
  fasttextIds: Int32Array;
  k: number;
  metrics: MetricReport;
}

/** peers.json's `ft-hs` on a text set: hierarchical softmax, one thread (the fastest peer on apt-files). */
export const FT_HS_PEER: FasttextTextOptions = { loss: 'hs', dim: 64, epoch: 25, lr: 0.5, thread: 1, seed: 1, wordNgrams: 1 };

/** fastText ids of a text set's labels: line i of its labels.txt is id i, as ../shared/peers numbered them. */
export async function fasttextLabelIds(labelsTxt: string): Promise<Map<string, number>> {
  const ids = new Map<string, number>();
  for (const [i, n] of (await readFile(labelsTxt, 'utf8')).split('\n').entries()) if (n !== '') ids.set(n, i);
  return ids;
}

/**
 * A text set's training file written under workDir, then `fasttext supervised` on it with `o`: the model's path
 * (without `.bin`) and the command's wall seconds. The bucket count is fastText's default, as the peers ran it (it also
 * shapes the random initialisation).
 */
async function trainOnText(trainJsonl: string, workDir: string, o: FasttextTextOptions, labelIds: ReadonlyMap<string, number>): Promise<{ model: string; trainSeconds: number }> {
  const input = join(workDir, 'ft-text-train.txt');
  await writeFasttextTextFile(trainJsonl, input, labelIds, true);
  const model = join(workDir, `ft-text-${o.loss}-ng${o.wordNgrams}-lr${o.lr}`);
  const trainSeconds = await trainFasttext({ input, output: model, loss: o.loss, dim: o.dim, epoch: o.epoch, lr: o.lr, thread: o.thread, seed: o.seed, wordNgrams: o.wordNgrams, bucket: FASTTEXT_DEFAULT_BUCKET });
  return { model, trainSeconds };
}

/** fastText trained on a text set with `o`, nothing predicted: the train command's wall seconds. */
export async function fasttextTrainSecondsText(trainJsonl: string, labelsTxt: string, workDir: string, o: FasttextTextOptions): Promise<number> {
  return (await trainOnText(trainJsonl, workDir, o, await fasttextLabelIds(labelsTxt))).trainSeconds;
}

/**
 * fastText on raw JSONL text, with fixed settings (no learning-rate search), scored with our
 * metric code. fastText's label ids come from `labels.ftId` (name → id; ../shared/peers used the
 * dataset's labels.txt line numbers) and its predictions are mapped back to our label ids through
 * `labels.toOurs` (an id outside it or mapped to -1 is never a hit). `truth`/`trainLabels`: our test
 * and training label matrices. Files go under `workDir`.
 */
export async function fasttextEvaluateText(
  trainJsonl: string,
  testJsonl: string,
  workDir: string,
  o: FasttextTextOptions,
  labels: { ftId: ReadonlyMap<string, number>; toOurs: Int32Array },
  truth: Csr,
  trainLabels: Csr,
): Promise<FasttextTextResult> {
  const k = o.k ?? 10;
  const testFile = join(workDir, 'ft-text-test.txt');
  const testRows = await writeFasttextTextFile(testJsonl, testFile, labels.ftId, false);
  if (testRows !== truth.rows) throw new Error(`${testJsonl}: ${testRows} records, but the test labels have ${truth.rows} rows`);
  const { model, trainSeconds } = await trainOnText(trainJsonl, workDir, o, labels.ftId);
  const { predicted: fasttextIds, seconds: predictSeconds } = await predictFasttextTimed(`${model}.bin`, testFile, testRows, k);
  const ours = fasttextIds.map((id) => (id >= 0 && id < labels.toOurs.length ? labels.toOurs[id] : -1));
  return { args: { ...o, k, bucket: FASTTEXT_DEFAULT_BUCKET }, trainSeconds, predictSeconds, fasttextIds, k, metrics: score(ours, k, truth, trainLabels) };
}
