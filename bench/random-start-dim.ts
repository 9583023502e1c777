/**
 * The embedding size of --auto's random-start family: its α=0 and α 0.5 T 1 candidates at each
 * --dims value on each dataset, one thread and seed 1 (one model per setting, bit for bit), the
 * benches' teachers (bench/teachers.ts). Job seconds exclude the test metrics. A benchmark: prints a
 * table, writes bench/results/random-start-dim.json (--out), asserts nothing.
 *
 *   npx tsx bench/random-start-dim.ts [--datasets bibtex,corel5k,delicious,debtags] [--dims 128,256] [--out FILE]
 *
 * apt-files, where the family is the one --auto searches, is measured end to end by
 * `bench/apt-files-e2e.ts --variants default,dim128` (two threads, against fastText).
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { TrainConfig } from '../src/core/model/train-config.js';
import { ALPHA0_RANDOM_START, AUTO_RANDOM_START } from '../src/pipeline/auto-tune.js';
import { RESULTS_DIR, TMP_DIR, datasetSplit, distilxrJson, jobSeconds, machineInfo, mdTable, parseArgs, trainFlags, writeJson } from './lib.js';
import { peerBar, readPeersJson } from './peers.js';
import { teacherFor } from './teachers.js';

const a = parseArgs(process.argv.slice(2));
const datasets = String(a.get('datasets') ?? 'bibtex,corel5k,delicious,debtags').split(',');
const dims = String(a.get('dims') ?? '128,256').split(',').map(Number);
const outFile = String(a.get('out') ?? 'random-start-dim.json');
const candidates: { name: string; settings: Partial<TrainConfig>; teacher: boolean }[] = [
  { name: 'α=0', settings: ALPHA0_RANDOM_START, teacher: false },
  { name: 'α 0.5 T 1', settings: { alpha: 0.5, temperature: 1 }, teacher: true },
];

await mkdir(join(TMP_DIR, 'random-start-dim'), { recursive: true });
const runs: { dataset: string; candidate: string; dim: number; seconds: number; p1: number; p5: number; psp5: number }[] = [];
for (const ds of datasets) {
  const split = datasetSplit(ds);
  const teacher = (await teacherFor(ds, split, [], false)).path;
  for (const c of candidates) {
    for (const dim of dims) {
      const out = join(TMP_DIR, 'random-start-dim', `${ds}-${c.name.replace(/\W+/g, '')}-${dim}`);
      const flags = ['--no-auto', ...trainFlags({ ...AUTO_RANDOM_START.base, ...c.settings, dim, threads: 1, seed: 1 }), ...(c.teacher ? ['--teacher', teacher] : [])];
      const { json } = await distilxrJson<{ stageSeconds: Record<string, number>; testSeconds?: number; hnsw: Record<string, number> }>(['train', '--train', split.train, '--test', split.test, ...flags, '--out', out], `${out}.log`);
      const run = { dataset: ds, candidate: c.name, dim, seconds: jobSeconds(json).seconds, p1: json.hnsw['p@1'], p5: json.hnsw['p@5'], psp5: json.hnsw['psp@5'] };
      runs.push(run);
      process.stderr.write(`[${ds}] ${c.name} d ${dim}: ${run.seconds.toFixed(1)} s, P@1 ${(100 * run.p1).toFixed(2)}\n`);
    }
  }
}
const pct = (x: number): string => (100 * x).toFixed(2);
const peers = await readPeersJson();
console.log(
  mdTable(
    ['dataset', 'candidate', 'd', 'job s', 'P@1 / P@5 / PSP@5 via HNSW', 'best peer P@1 / P@5 / PSP@5 (peers.json)', 'fastest peer, train s', '× fastest'],
    runs.map((r) => {
      const bar = peerBar(peers, r.dataset);
      return [r.dataset, r.candidate, String(r.dim), r.seconds.toFixed(1), `${pct(r.p1)} / ${pct(r.p5)} / ${pct(r.psp5)}`, bar ? `${bar.best['P@1']} / ${bar.best['P@5']} / ${bar.best['PSP@5']}` : '', bar?.fastest ?? '', bar ? (r.seconds / bar.fastestSeconds).toFixed(1) : ''];
    }),
  ),
);
await writeJson(join(RESULTS_DIR, outFile), { machine: machineInfo(), dims, runs });
