/**
 * Every benchmark table in sequence (`npm run bench`): quality (1), train-speed (2), scoring (3),
 * retrieval (4), http (5), scale (6); load (issue 5) only with --with-load, last. Each table runs
 * as its own `tsx bench/<script>.ts` process with its output shown as it comes; the first failure
 * stops the run with the table, its command and exit code, and the tables not run. Ends with where
 * each table's raw JSON went.
 *
 *   npx tsx bench/all.ts [--quick] [--only scale,http] [--from retrieval] [--with-load]
 *
 * --quick is passed to the tables that have it and mapped to a shorter setting for the others
 * (scoring: 3 repetitions of 30 batches; retrieval: 1 repetition, no generated model; their JSON is
 * then renamed to *-quick.json and the full one kept). From a clean
 * checkout, quality fits its teachers first (30+ min on Delicious) and fastText is apt-installed.
 */
import { spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { REPO_ROOT, RESULTS_DIR, mdTable, parseArgs } from './lib.js';

/**
 * Scoring and retrieval have no --quick and always write their full JSON name: in a quick run their
 * output is moved to the quick name and the full results put back, so a quick run never
 * overwrites a full one.
 */
async function runKeepingFullJson(t: Table, args: string[]): Promise<number> {
  const full = join(RESULTS_DIR, t.json);
  const saved = existsSync(full) ? await readFile(full) : null;
  const code = await runTable(t.script, args);
  if (existsSync(full)) await rename(full, join(RESULTS_DIR, t.quickJson));
  if (saved) await writeFile(full, saved);
  return code;
}

interface Table {
  name: string;
  title: string;
  script: string;
  args: string[];
  quickArgs: string[];
  json: string;
  quickJson: string;
}

const TABLES: Table[] = [
  { name: 'quality', title: 'Table 1: quality', script: 'quality.ts', args: [], quickArgs: ['--quick'], json: 'quality.json', quickJson: 'quality-quick.json' },
  { name: 'train-speed', title: 'Table 2: training speed', script: 'train-speed.ts', args: [], quickArgs: ['--quick'], json: 'train-speed.json', quickJson: 'train-speed-quick.json' },
  { name: 'scoring', title: 'Table 3: teacher scoring', script: 'teacher-scoring.ts', args: [], quickArgs: ['--reps', '3', '--batches', '30'], json: 'teacher-scoring.json', quickJson: 'teacher-scoring-quick.json' },
  { name: 'retrieval', title: 'Table 4: retrieval', script: 'retrieval.ts', args: ['--synth'], quickArgs: ['--reps', '1'], json: 'retrieval.json', quickJson: 'retrieval-quick.json' },
  { name: 'http', title: 'Table 5: HTTP queries', script: 'http-queries.ts', args: [], quickArgs: ['--quick'], json: 'http-queries.json', quickJson: 'http-queries-quick.json' },
  { name: 'scale', title: 'Table 6: scale', script: 'scale.ts', args: [], quickArgs: ['--quick'], json: 'scale.json', quickJson: 'scale-quick.json' },
];
const LOAD: Table = { name: 'load', title: 'load (issue 5)', script: 'load.ts', args: [], quickArgs: ['--quick'], json: 'load.json', quickJson: 'load-quick.json' };

function runTable(script: string, args: string[]): Promise<number> {
  return new Promise((res, rej) => {
    const child = spawn(join(REPO_ROOT, 'node_modules', '.bin', 'tsx'), [join('bench', script), ...args], { cwd: REPO_ROOT, stdio: 'inherit' });
    child.on('error', rej);
    child.on('close', (code, signal) => res(code ?? (signal ? 128 : 1)));
  });
}

/** The JSON path, with a warning when the table did not (re)write it during this run. */
function jsonStatus(path: string, since: number): string {
  try {
    return statSync(path).mtimeMs >= since ? relative(REPO_ROOT, path) : `${relative(REPO_ROOT, path)} (not rewritten by this run)`;
  } catch {
    return `${relative(REPO_ROOT, path)} (missing)`;
  }
}

function pick(names: string | true | undefined, tables: Table[], flag: string): Set<string> | null {
  if (names === undefined) return null;
  if (names === true) throw new RangeError(`--${flag} needs table names: ${tables.map((t) => t.name).join(',')}`);
  const wanted = new Set(names.split(',').map((s) => s.trim()));
  for (const n of wanted) if (!tables.some((t) => t.name === n)) throw new RangeError(`--${flag}: no table "${n}" (tables: ${tables.map((t) => t.name).join(', ')})`);
  return wanted;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.has('help')) {
    process.stdout.write(`usage: npx tsx bench/all.ts [--quick] [--only a,b] [--from name] [--with-load]\ntables: ${[...TABLES, LOAD].map((t) => t.name).join(', ')}\n`);
    return;
  }
  for (const k of args.keys()) {
    if (!['quick', 'only', 'from', 'with-load'].includes(k)) throw new RangeError(`unknown option --${k} (options: --quick, --only a,b, --from name, --with-load)`);
  }
  const quick = args.has('quick');
  const all = args.has('with-load') ? [...TABLES, LOAD] : TABLES;
  const only = pick(args.get('only'), all, 'only');
  const from = pick(args.get('from'), all, 'from');
  const startAt = from ? all.findIndex((t) => from.has(t.name)) : 0;
  const tables = all.slice(startAt).filter((t) => !only || only.has(t.name));
  const done: string[][] = [];
  for (const [i, t] of tables.entries()) {
    const targs = quick ? t.quickArgs : t.args;
    const cmd = `npx tsx bench/${t.script}${targs.length ? ' ' + targs.join(' ') : ''}`;
    process.stdout.write(`\n# ${t.title} — ${cmd}\n\n`);
    const started = Date.now();
    const code = quick && !t.quickArgs.includes('--quick') ? await runKeepingFullJson(t, targs) : await runTable(t.script, targs);
    const seconds = ((Date.now() - started) / 1000).toFixed(0);
    if (code !== 0) {
      const rest = tables.slice(i + 1).map((x) => x.name);
      process.stderr.write(
        `\nbench: ${t.title} failed: \`${cmd}\` exited with code ${code} after ${seconds} s (its output is above).\n` +
          (rest.length ? `Not run: ${rest.join(', ')}.\n` : '') +
          `Resume with: npm run bench -- ${quick ? '--quick ' : ''}--from ${t.name}${only ? ` --only ${[...only].join(',')}` : ''}\n`,
      );
      if (done.length) process.stderr.write(`Finished before it:\n${mdTable(['table', 's', 'raw JSON'], done)}\n`);
      process.exit(1);
    }
    done.push([t.title, seconds, jsonStatus(join(RESULTS_DIR, quick ? t.quickJson : t.json), started)]);
  }
  process.stdout.write(`\n# All tables done\n\n${mdTable(['table', 's', 'raw JSON'], done)}\n`);
}

try {
  await main();
} catch (e) {
  process.stderr.write(`bench: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
}
