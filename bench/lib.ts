/**
 * Shared benchmark helpers: paths, running a command or the `distilxr` CLI (one JSON object on
 * stdout), medians, argument parsing, markdown tables and the raw-results JSON.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpus, totalmem } from 'node:os';
import type { Csr } from '../src/core/data/csr.js';
import { DEFAULT_TRAIN_CONFIG, type TrainConfig } from '../src/core/model/train-config.js';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const RESULTS_DIR = join(REPO_ROOT, 'bench', 'results');
export const DATASETS_DIR = resolve(REPO_ROOT, '..', 'shared', 'datasets');
export const TMP_DIR = join(RESULTS_DIR, 'tmp');

/** Paths of a MULAN split. */
export function mulanSplit(name: string): { train: string; test: string } {
  const base = join(DATASETS_DIR, name, `${name}_mulan`);
  return { train: `${base}_train.txt`, test: `${base}_test.txt` };
}

/** A shared dataset's train/test files: a MULAN XC split, or JSONL text with its labels.txt. */
export interface DatasetSplit {
  format: 'xc' | 'jsonl';
  train: string;
  test: string;
  /** JSONL only: every label name, one a line (the ids ../shared/peers uses are its 0-based lines). */
  labelsTxt?: string;
}

/** `<ds>/train.jsonl` + `test.jsonl` + `labels.txt` when present, else the MULAN split. */
export function datasetSplit(name: string): DatasetSplit {
  const dir = join(DATASETS_DIR, name);
  const train = join(dir, 'train.jsonl');
  if (existsSync(train)) return { format: 'jsonl', train, test: join(dir, 'test.jsonl'), labelsTxt: join(dir, 'labels.txt') };
  return { format: 'xc', ...mulanSplit(name) };
}

/**
 * A train job's seconds from its --json output: `seconds`, preparing → publishing without the test
 * split's metrics (what the peers' train seconds cover: they predict in a separate command), and
 * `withTest`, every stage. A checkout older than `testSeconds` reports none: both are then the same.
 */
export function jobSeconds(json: { stageSeconds: Record<string, number>; testSeconds?: number }): { seconds: number; withTest: number } {
  const withTest = Object.values(json.stageSeconds).reduce((s, x) => s + x, 0);
  return { seconds: withTest - (json.testSeconds ?? 0), withTest };
}

/** Runs a command; resolves with stdout, wall seconds; rejects with the stderr tail on failure. */
export function run(cmd: string, args: string[], opts: { stderrFile?: string; cwd?: string } = {}): Promise<{ stdout: string; seconds: number }> {
  return new Promise((res, rej) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(cmd, args, { cwd: opts.cwd ?? REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let errTail = '';
    const errFile = opts.stderrFile ? createWriteStream(opts.stderrFile, { flags: 'a' }) : null;
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => {
      errFile?.write(b);
      errTail = (errTail + b.toString('utf8')).slice(-4000);
    });
    child.on('error', rej);
    child.on('close', (code) => {
      errFile?.end();
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      if (code === 0) res({ stdout: Buffer.concat(out).toString('utf8'), seconds });
      else rej(new Error(`${cmd} ${args.join(' ')} exited with ${code}\n${errTail}`));
    });
  });
}

/** Runs `node bin/distilxr.js ARGS --json` (of the checkout at `root`) and parses its one JSON object; stderr goes to `logFile`. */
export async function distilxrJson<T = Record<string, unknown>>(args: string[], logFile: string, root = REPO_ROOT): Promise<{ json: T; seconds: number }> {
  await mkdir(dirname(logFile), { recursive: true });
  await writeFile(logFile, `$ distilxr ${args.join(' ')}\n`);
  const r = await run(process.execPath, [join(root, 'bin', 'distilxr.js'), ...args, '--json'], { stderrFile: logFile, cwd: root });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  return { json: JSON.parse(line) as T, seconds: r.seconds };
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** `--name value` / `--flag` from argv. */
export function parseArgs(argv: string[]): Map<string, string | true> {
  const m = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    const eq = a.indexOf('=');
    if (eq > 0) m.set(a.slice(2, eq), a.slice(eq + 1));
    else if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) m.set(a.slice(2), argv[++i]);
    else m.set(a.slice(2), true);
  }
  return m;
}

/** The values of flags every run needs (`--model DIR` …), in the order asked; throws naming the first one missing. */
export function requiredArgs(a: Map<string, string | true>, names: readonly string[]): string[] {
  return names.map((k) => {
    const v = a.get(k);
    if (typeof v !== 'string') throw new Error(`--${k} is required`);
    return v;
  });
}

/** Markdown table. */
export function mdTable(header: string[], rows: string[][]): string {
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

export async function writeJson(path: string, value: unknown): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, JSON.stringify(value, null, 2) + '\n');
}

export async function readJsonIfExists<T>(path: string): Promise<T | null> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch {
    return null;
  }
}

/** Machine facts for the raw JSON. */
export function machineInfo(): Record<string, string | number> {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own format string
  const ft = spawnSync('sh', ['-c', 'dpkg-query -W -f=\'${Version}\' fasttext 2>/dev/null'], { encoding: 'utf8' }).stdout.trim();
  const git = (args: string[]): string => spawnSync('git', args, { cwd: REPO_ROOT, encoding: 'utf8' }).stdout?.trim() ?? '';
  const dirty = git(['status', '--porcelain', '--untracked-files=no']) !== '';
  return {
    node: process.version,
    cpus: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    fasttext: ft,
    commit: git(['rev-parse', '--short', 'HEAD']) + (dirty ? '+dirty' : ''),
    date: new Date().toISOString(),
  };
}

/**
 * Mean over the first n queries of |approx top-k ∩ exact top-k| / k, where query q's ids start at
 * q * exactStride in `exact` and q * approxStride in `approx` (-1 = no result).
 */
export function recallAt(exact: Int32Array, exactStride: number, approx: Int32Array, approxStride: number, k: number, n: number): number {
  let hits = 0;
  for (let q = 0; q < n; q++) {
    const e = exact.subarray(q * exactStride, q * exactStride + k);
    for (let a = 0; a < k; a++) {
      const y = approx[q * approxStride + a];
      if (y >= 0 && e.includes(y)) hits++;
    }
  }
  return n ? hits / (n * k) : 0;
}

/** The first n rows of `m`, sharing its arrays (no copy). */
export function firstRows(m: Csr, n: number): Csr {
  return { ...m, rows: n, indptr: m.indptr.subarray(0, n + 1) };
}

/** `--name` value as a positive integer, or a RangeError naming the flag. */
export function positiveInt(name: string, s: string | undefined): number {
  const v = Number(s);
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`--${name} must be a positive integer, got ${s}`);
  return v;
}

/** `--name a,b,c` as non-negative integers (seeds, which may be 0). */
export function nonNegativeInts(name: string, s: string): number[] {
  return s.split(',').map((x) => {
    if (!/^\d+$/.test(x)) throw new RangeError(`--${name} takes non-negative integers separated by commas: got "${x}"`);
    return Number(x);
  });
}

/** A generated data set of the scale table (bench/scale.ts). */
export interface ScaleSize {
  labels: number;
  points: number;
  features: number;
}

/** Training points and features grow as √labels: 10^4 → 20k points, 10^6 → 200k points and 100k features. */
export function scaleSize(labels: number): ScaleSize {
  const s = Math.sqrt(labels / 1e4);
  return { labels, points: Math.round((20_000 * s) / 1000) * 1000, features: Math.round((10_000 * s) / 1000) * 1000 };
}

/** "L1e5" for 100000 labels. */
export function scaleTag(labels: number): string {
  return `L${labels.toExponential().replace('+', '')}`;
}

/**
 * `distilxr data synth` for a scale size (seed 1, test points a quarter of the training points),
 * kept in bench/results/tmp/scale/ and reused unless `fresh`. synthSeconds is null when reused.
 */
export async function ensureScaleData(size: ScaleSize, fresh = false): Promise<{ trainPath: string; testPath: string; synthSeconds: number | null }> {
  const dataDir = join(TMP_DIR, 'scale', `${scaleTag(size.labels)}-p${size.points}-f${size.features}`);
  const trainPath = join(dataDir, 'train.txt');
  const testPath = join(dataDir, 'test.txt');
  if (!fresh && existsSync(testPath)) return { trainPath, testPath, synthSeconds: null };
  await rm(dataDir, { recursive: true, force: true });
  const r = await run(process.execPath, [
    join(REPO_ROOT, 'bin', 'distilxr.js'), 'data', 'synth', '--out', dataDir,
    '--points', String(size.points), '--features', String(size.features), '--labels', String(size.labels), '--seed', '1',
  ]);
  process.stderr.write(`[scale ${scaleTag(size.labels)}] generated ${size.points} points, ${size.labels} labels in ${r.seconds.toFixed(1)} s\n`);
  return { trainPath, testPath, synthSeconds: r.seconds };
}

/** `distilxr train` flags of some settings; a boolean only when it differs from its default (the CLI has --x or --no-x, not both). */
export function trainFlags(settings: Partial<TrainConfig>): string[] {
  return Object.entries(settings).flatMap(([k, v]) => {
    const name = k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
    if (typeof v !== 'boolean') return [`--${name}`, String(v)];
    if (v === DEFAULT_TRAIN_CONFIG[k as keyof TrainConfig]) return [];
    return v ? [`--${name}`] : [`--no-${name}`];
  });
}
