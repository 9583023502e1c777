/**
 * The default job (--auto with a teacher) end to end on the MULAN sets (or debtags, apt-files), against the peers' train
 * seconds (issue 10, item 4), optionally side by side with another checkout of distilxr.
 *
 *   npx tsx bench/auto-jobs.ts [--datasets bibtex,corel5k,delicious] [--reps 2 | --seeds 1,2,3] [--against DIR]
 *     [--variants 'NAME=ARGS;…'] [--args='ARGS'] [--compiled] [--fasttext] [--out FILE]
 *
 * Each run is `distilxr train --train … --test … --teacher T --seed 1 --out … --json`, no setting
 * given, so --auto chooses; --seeds: one repetition per seed instead of --reps at seed 1 (with --args='--threads 1'
 * each seed's model is the same every run: a change to the search against its per-seed P@1, the quality bench's
 * --seeds rows); --args: flags added to every set-up's command; job seconds = its stages, preparing → publishing (teacher fit excluded),
 * without the test split's metrics (the peers' train seconds leave their predictions out too; the
 * table also gives the seconds with them).
 * The teacher is the benches' own (bench/teachers.ts: `teacher fit` defaults into
 * bench/results/tmp/<ds>/, fitted once and reused, the quality bench's too). --against DIR: the same jobs with the
 * checkout at DIR (e.g. a worktree of an earlier commit), alternating with this one, order rotated
 * every repetition; both use this checkout's teacher. --variants: more set-ups of this checkout,
 * each with ARGS added to its command (e.g. `serial=--auto-trial-threads 1`), in the same rotation.
 * --compiled: every tree is built first (`npm run build`) and its dist/ runs, as a production
 * install does, instead of the sources through tsx (worker threads load far faster). --fasttext: on a set whose
 * fastest peer is peers.json's ft-hs (apt-files), fastText with its settings is also trained once per repetition, in
 * the same rotation, and the table gives the job's seconds over its median too: the peer's seconds on this machine in
 * this hour, where peers.json's were measured elsewhere (this machine's speed varies by 1.5× over a day). Prints a table of medians, writes bench/results/auto-jobs.json (or --out FILE there). Benchmark, not a test.
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { DATASETS_DIR, REPO_ROOT, RESULTS_DIR, TMP_DIR, datasetSplit, jobSeconds, machineInfo, mdTable, median, nonNegativeInts, parseArgs, positiveInt, run, writeJson } from './lib.js';
import { ensureFasttext, fasttextTrainSecondsText, FT_HS_PEER } from './fasttext.js';
import { peerBar, readPeersJson } from './peers.js';
import { teacherFor } from './teachers.js';

interface JobRun {
  dataset: string;
  tree: string;
  rep: number;
  seed: number;
  /** Preparing → publishing without the test metrics (jobSeconds). */
  seconds: number;
  withTest: number;
  stageSeconds: Record<string, number>;
  p1: number;
  /** P@1 by exact search (p1 and the others: through HNSW). */
  exactP1: number;
  p5: number;
  psp5: number;
  chosen: Record<string, unknown>;
}

const a = parseArgs(process.argv.slice(2));
const datasets = String(a.get('datasets') ?? 'bibtex,corel5k,delicious').split(',');
// one repetition per seed: --seeds, else --reps at seed 1
const seeds = a.has('seeds') ? nonNegativeInts('seeds', String(a.get('seeds'))) : Array.from({ length: positiveInt('reps', String(a.get('reps') ?? 2)) }, () => 1);
const commonArgs = typeof a.get('args') === 'string' ? String(a.get('args')).split(' ').filter(Boolean) : [];
const against = a.get('against');
const trees: Record<string, string> = { this: REPO_ROOT, ...(typeof against === 'string' ? { against: resolve(against) } : {}) };
// set-up name → extra arguments; set-ups other than the trees run this checkout
const extraArgs: Record<string, string[]> = {};
for (const v of String(a.get('variants') ?? '').split(';').filter(Boolean)) {
  const eq = v.indexOf('=');
  if (eq < 1) throw new Error(`--variants: "${v}" is not NAME=ARGS`);
  const name = v.slice(0, eq);
  if (name in trees) throw new Error(`--variants: "${name}" is already a set-up`);
  trees[name] = REPO_ROOT;
  extraArgs[name] = v.slice(eq + 1).split(' ').filter(Boolean);
}
const outFile = String(a.get('out') ?? 'auto-jobs.json');
const compiled = a.get('compiled') === true;
if (compiled) for (const dir of new Set(Object.values(trees))) await run('npm', ['run', '-s', 'build'], { cwd: dir });
const cli = (dir: string): string => join(dir, compiled ? 'dist/cli/distilxr.js' : 'bin/distilxr.js');

const runs: JobRun[] = [];
await mkdir(join(TMP_DIR, 'auto-jobs'), { recursive: true });
const peers = await readPeersJson();
// the sets whose fastest peer fastText is run here beside the jobs (--fasttext), and its seconds per repetition
const withFasttext = a.get('fasttext') === true ? datasets.filter((ds) => peerBar(peers, ds)?.fastestMethod === 'ft-hs' && datasetSplit(ds).labelsTxt) : [];
if (withFasttext.length) ensureFasttext();
const fasttextSeconds = new Map<string, number[]>(withFasttext.map((ds) => [ds, []]));
for (const ds of datasets) {
  if (!existsSync(join(DATASETS_DIR, ds))) throw new Error(`no dataset ${ds} under ${DATASETS_DIR}`);
}
const teachers = new Map<string, string>();
for (const ds of datasets) teachers.set(ds, (await teacherFor(ds, datasetSplit(ds), [], false)).path);
for (let rep = 0; rep < seeds.length; rep++) {
  for (const ds of datasets) {
    const names = [...Object.keys(trees), ...(withFasttext.includes(ds) ? ['fastText'] : [])];
    const order = rep % 2 ? [...names].reverse() : names;
    for (const tree of order) {
      if (tree === 'fastText') {
        const split = datasetSplit(ds);
        const seconds = await fasttextTrainSecondsText(split.train, split.labelsTxt!, join(TMP_DIR, 'auto-jobs', `${ds}-fasttext`), FT_HS_PEER);
        fasttextSeconds.get(ds)!.push(seconds);
        process.stderr.write(`[${ds}] fastText hs rep ${rep + 1}: ${seconds.toFixed(1)} s\n`);
        continue;
      }
      const split = datasetSplit(ds);
      const out = join(TMP_DIR, 'auto-jobs', `${ds}-${tree}-${rep}`);
      const args = ['train', '--train', split.train, '--test', split.test, '--teacher', teachers.get(ds)!, '--seed', String(seeds[rep]), '--out', out, '--json', ...commonArgs, ...(extraArgs[tree] ?? [])];
      const r = await run(process.execPath, [cli(trees[tree]), ...args], { cwd: trees[tree], stderrFile: `${out}.log` });
      const json = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { 'p@1': number; stageSeconds: Record<string, number>; testSeconds?: number; hnsw: Record<string, number>; config: Record<string, unknown> };
      const { seconds, withTest } = jobSeconds(json);
      runs.push({ dataset: ds, tree, rep, seed: seeds[rep], seconds, withTest, stageSeconds: json.stageSeconds, p1: json.hnsw['p@1'], exactP1: json['p@1'], p5: json.hnsw['p@5'], psp5: json.hnsw['psp@5'], chosen: json.config });
      process.stderr.write(`[${ds}] ${tree} rep ${rep + 1} (seed ${seeds[rep]}): ${seconds.toFixed(1)} s, P@1 ${(100 * json.hnsw['p@1']).toFixed(2)}\n`);
    }
  }
}

const pct = (x: number): string => (100 * x).toFixed(2);
const rows = datasets.flatMap((ds) =>
  Object.keys(trees).map((tree) => {
    const mine = runs.filter((r) => r.dataset === ds && r.tree === tree);
    const stage = (s: string): string => median(mine.map((r) => r.stageSeconds[s] ?? 0)).toFixed(1);
    const bar = peerBar(peers, ds);
    const fastest = bar?.fastestSeconds ?? Number.NaN;
    const job = median(mine.map((r) => r.seconds));
    return [
      ds,
      tree === 'this' ? 'this checkout' : extraArgs[tree] ? `this checkout ${extraArgs[tree].join(' ')}` : String(trees[tree]),
      job.toFixed(1),
      mine.map((r) => r.seconds.toFixed(1)).join(', '),
      median(mine.map((r) => r.withTest)).toFixed(1),
      stage('tuning'),
      stage('evaluating'),
      mine.map((r) => `${pct(r.p1)} / ${pct(r.p5)} / ${pct(r.psp5)}`).join('; '),
      `${pct(mine.reduce((t, r) => t + r.exactP1, 0) / mine.length)} (${mine.map((r) => pct(r.exactP1)).join(' ')})`,
      bar ? `${bar.best['P@1']} / ${bar.best['P@5']} / ${bar.best['PSP@5']}` : '',
      bar?.fastest ?? '',
      Number.isFinite(fastest) ? (job / fastest).toFixed(1) : '',
      fasttextSeconds.has(ds) ? `${(job / median(fasttextSeconds.get(ds)!)).toFixed(2)} (fastText ${fasttextSeconds.get(ds)!.map((x) => x.toFixed(1)).join(', ')} s)` : '',
    ];
  }),
);
console.log(mdTable(['dataset', 'distilxr', 'job s (median)', 'runs, s', 'with test metrics s', 'tuning s', 'evaluating s', 'P@1 / P@5 / PSP@5 via HNSW, per run', 'exact P@1: mean (per run)', 'best peer P@1 / P@5 / PSP@5', 'fastest peer, train s', '× fastest', '× fastText in this run'], rows));
await writeJson(join(RESULTS_DIR, outFile), { machine: machineInfo(), compiled, trees, extraArgs, commonArgs, seeds, runs, fasttextSeconds: Object.fromEntries(fasttextSeconds) });
