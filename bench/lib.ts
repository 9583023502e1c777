/**
 * Shared benchmark helpers: paths, running a command or the `distilxr` CLI (one JSON object on
 * stdout), medians, argument parsing, markdown tables and the raw-results JSON.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpus } from 'node:os';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const RESULTS_DIR = join(REPO_ROOT, 'bench', 'results');
export const DATASETS_DIR = resolve(REPO_ROOT, '..', 'shared', 'datasets');
export const TMP_DIR = join(RESULTS_DIR, 'tmp');

/** Paths of a MULAN split. */
export function mulanSplit(name: string): { train: string; test: string } {
  const base = join(DATASETS_DIR, name, `${name}_mulan`);
  return { train: `${base}_train.txt`, test: `${base}_test.txt` };
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

/** Runs `node bin/distilxr.js ARGS --json` and parses its one JSON object; stderr goes to `logFile`. */
export async function distilxrJson<T = Record<string, unknown>>(args: string[], logFile: string): Promise<{ json: T; seconds: number }> {
  await mkdir(dirname(logFile), { recursive: true });
  await writeFile(logFile, `$ distilxr ${args.join(' ')}\n`);
  const r = await run(process.execPath, [join(REPO_ROOT, 'bin', 'distilxr.js'), ...args, '--json'], { stderrFile: logFile });
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
  const ft = spawnSync('sh', ['-c', 'dpkg-query -W -f=\'${Version}\' fasttext 2>/dev/null'], { encoding: 'utf8' }).stdout.trim();
  return { node: process.version, cpus: cpus().length, fasttext: ft, date: new Date().toISOString() };
}

/** `--name` value as a positive integer, or a RangeError naming the flag. */
export function positiveInt(name: string, s: string | undefined): number {
  const v = Number(s);
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`--${name} must be a positive integer, got ${s}`);
  return v;
}
