/**
 * The scoring stage's bookkeeping without a teacher: TeacherScoreCache.insert and lookup over one
 * pool's pairs, and scorePositivesAndPool with a scorer that returns zeros at once (the serial part
 * of a scoring stage, which fanning the teacher out over workers cannot share). Shapes of
 * bench:workers' job: 40,000 rows, 3 positives and 100 pool labels each, 4,000 labels.
 *
 *   npx tsx bench/score-cache.ts [--reps 5]
 *
 * Prints a table of medians, writes bench/results/score-cache.json. Benchmark, not a test.
 */
import { join } from 'node:path';
import type { Csr } from '../src/core/data/csr.js';
import { Rng } from '../src/core/util/rng.js';
import { positivesAndPoolAsCsr, scorePositivesAndPool } from '../src/pipeline/score.js';
import type { CandidateScorer } from '../src/teacher/onnx-teacher.js';
import { TeacherScoreCache } from '../src/teacher/score-cache.js';
import { parseArgs } from 'node:util';
import { RESULTS_DIR, machineInfo, mdTable, median, positiveInt, writeJson } from './lib.js';

const { values: args } = parseArgs({ options: { reps: { type: 'string', default: '5' } } });
const REPS = positiveInt('reps', args.reps);
const N = 40000;
const L = 4000;
const K = 100;

const rng = new Rng(1);
const indptr = new Int32Array(N + 1);
const positives: number[] = [];
for (let i = 0; i < N; i++) {
  const s = new Set<number>();
  while (s.size < 3) s.add(Math.floor(rng.next() * L));
  positives.push(...[...s].sort((a, b) => a - b));
  indptr[i + 1] = positives.length;
}
const labels: Csr = { rows: N, cols: L, indptr, indices: Int32Array.from(positives), values: null };
const poolLabels = Int32Array.from({ length: N * K }, () => Math.floor(rng.next() * L));
const pool = () => ({ size: K, labels: poolLabels, teacherScores: null });
const train = { features: { rows: N, cols: 1, indptr: new Int32Array(N + 1), indices: new Int32Array(0), values: new Float32Array(0) }, labels, source: 'generated' };
const zeros: CandidateScorer = { scoreCandidates: async (_f, _e, c) => new Float32Array(c.indptr[c.rows] - c.indptr[0]) };
const examples = Int32Array.from({ length: N }, (_, i) => i);
const both = positivesAndPoolAsCsr(labels, pool());

const times: Record<string, number[]> = { insert: [], lookup: [], stage: [] };
for (let rep = 0; rep < REPS; rep++) {
  const cache = new TeacherScoreCache(N);
  let t = performance.now();
  cache.insert(examples, both, new Float32Array(both.indices.length));
  times.insert.push(performance.now() - t);
  t = performance.now();
  cache.lookup(examples, both);
  times.lookup.push(performance.now() - t);
  t = performance.now();
  await scorePositivesAndPool(zeros, new TeacherScoreCache(N), train, pool());
  times.stage.push(performance.now() - t);
}
const rows = Object.entries(times).map(([k, v]) => [k, median(v).toFixed(0), v.map((x) => x.toFixed(0)).join(', ')]);
console.log(`${N} rows × (3 positives + ${K} pool labels), ${L} labels; ${REPS} repetitions`);
console.log(mdTable(['part', 'median ms', 'runs, ms'], rows));
await writeJson(join(RESULTS_DIR, 'score-cache.json'), { machine: machineInfo(), rows: N, labels: L, pool: K, times });
