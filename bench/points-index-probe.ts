/**
 * The training points' index of a published model built with other graph settings: its build seconds and the model's
 * P@1 / P@5 / PSP@5 through HNSW on the test split with it (the label index and blend as published).
 *
 *   npx tsx bench/points-index-probe.ts --model DIR --train TRAIN --test TEST [--variants 16:100,8:100] [--threads 2] [--reps 1]
 *
 * A variant is M:efConstruction[:scalar[:dedupe[:K]]]: scalar f16, f32 or i8, the model's own by default; dedupe a cosine,
 * the points within it of an earlier point of their label set left out (src/ann/point-dedupe.ts), none without it; K the
 * neighbours that vote, the model's own by default. The table gives the points left in the index, so
 * `--variants 16:100::0.99,16:100::0.97,16:100::0.95` counts the near-copies at each cosine. Variants alternate per
 * repetition. Prints a table, writes bench/results/points-index-probe.json. Benchmark, not a test.
 */
import { encodePoints } from '../src/ann/neighbour-blend.js';
import { withoutRepeats } from '../src/ann/point-dedupe.js';
import { PointIndex, type PointScalar } from '../src/ann/point-index.js';
import { evaluateStudent } from '../src/pipeline/evaluate.js';
import { loadModel, loadTestForModel, modelPropensities } from '../src/pipeline/model-dir.js';
import { RESULTS_DIR, machineInfo, mdTable, parseArgs, positiveInt, requiredArgs, writeJson } from './lib.js';
import { join } from 'node:path';

const a = parseArgs(process.argv.slice(2));
const [modelDir, trainPath, testPath] = requiredArgs(a, ['model', 'train', 'test']);
const threads = positiveInt('threads', String(a.get('threads') ?? 2));
const reps = positiveInt('reps', String(a.get('reps') ?? 1));
const model = await loadModel(modelDir);
const nb = model.neighbours;
if (!nb) throw new Error(`${modelDir} has no neighbour component`);
const published = nb.index.options;
const variants = String(a.get('variants') ?? `${published.M}:${published.efConstruction},8:${published.efConstruction}`)
  .split(',')
  .map((v) => {
    const [M, efC, scalar, dedupe, K] = v.split(':');
    return { name: v, M: Number(M), efConstruction: Number(efC), scalar: (scalar || published.scalar) as PointScalar, dedupe: dedupe ? Number(dedupe) : null, K: K ? Number(K) : nb.settings.neighbours };
  });
const train = await loadTestForModel(model, trainPath);
const test = await loadTestForModel(model, testPath);
const propensities = modelPropensities(model, test);
const { dim } = model.student.shape;
const points = encodePoints(model.student, train.features);
const rows: { variant: string; rep: number; points: number; dedupeSeconds: number; buildSeconds: number; p1: number; p5: number; psp5: number }[] = [];
for (let rep = 0; rep < reps; rep++) {
  for (const v of rep % 2 ? [...variants].reverse() : variants) {
    const t0 = performance.now();
    // as buildPublishedIndexes does (src/pipeline/neighbours.ts), timed with the build
    const kept = withoutRepeats(points, dim, train.labels, v.dedupe ?? 0);
    const dedupeSeconds = (performance.now() - t0) / 1000;
    const count = kept.labels.rows;
    const index = PointIndex.build(kept.points, count, dim, { M: v.M, efConstruction: v.efConstruction, efSearch: published.efSearch, scalar: v.scalar }, threads);
    const buildSeconds = (performance.now() - t0) / 1000;
    const pointLabels = kept.labels;
    const ev = await evaluateStudent(model.student, test, propensities, model.index, { index, pointLabels, settings: { ...nb.settings, neighbours: v.K } }, threads);
    const m = ev.hnsw!;
    rows.push({ variant: v.name, rep, points: count, dedupeSeconds, buildSeconds, p1: m['p@1'], p5: m['p@5'], psp5: m['psp@5'] });
    process.stderr.write(`${v.name} rep ${rep + 1}: ${count} points, built in ${buildSeconds.toFixed(1)} s (dedupe ${dedupeSeconds.toFixed(1)} s of it), P@1 ${(100 * m['p@1']).toFixed(2)}\n`);
  }
}
const pct = (x: number): string => (100 * x).toFixed(2);
console.log(`${modelDir}: ${train.features.rows} training points, d=${dim}, published M ${published.M} efConstruction ${published.efConstruction} ${published.scalar}, ${threads} thread(s)`);
console.log(mdTable(['M:efConstruction[:scalar[:dedupe[:K]]]', 'rep', 'points', 'build s (with the dedupe)', 'P@1 / P@5 / PSP@5 via HNSW'], rows.map((r) => [r.variant, String(r.rep + 1), String(r.points), r.buildSeconds.toFixed(1), `${pct(r.p1)} / ${pct(r.p5)} / ${pct(r.psp5)}`])));
await writeJson(join(RESULTS_DIR, String(a.get('out') ?? 'points-index-probe.json')), { machine: machineInfo(), model: modelDir, threads, published, rows });
