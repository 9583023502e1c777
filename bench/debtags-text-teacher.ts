/**
 * debtags with a transformer text teacher (issue 11): the teacher's P@1/P@5/ECE on the test split,
 * the student without a teacher (α=0), the student distilled from the teacher, and how much faster
 * the student answers a query than the teacher.
 *
 *   nice npx tsx bench/debtags-text-teacher.ts --bundle /tmp/tt/debtags-classifier [--alpha 0.5] [--queries 300] [--fresh]
 *       [--latency-bundle /tmp/tt/debtags-base]   # also time a BERT-base-shaped teacher per query
 *
 * The bundle comes from examples/teachers/train_text_teacher.py (see examples/teachers/README.md).
 * Students: `distilxr train --no-auto` with the defaults otherwise, seed 1, models under
 * bench/results/tmp/debtags-text/. A finished run's JSON is reused unless --fresh. Query latency:
 * one test text at a time, the student through its HNSW index (queryModel, k=5), the teacher
 * scoring every label (TextTeacher, batch of one: tokenise + run). Prints tables, writes
 * bench/results/debtags-text-teacher.json. Benchmark, not a test.
 */
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadModel } from '../src/pipeline/model-dir.js';
import { encodeQueryInput, queryModel } from '../src/pipeline/query.js';
import { readTexts } from '../src/pipeline/job-teacher.js';
import { TextTeacher } from '../src/teacher/text/text-teacher.js';
import { DATASETS_DIR, RESULTS_DIR, TMP_DIR, distilxrJson, machineInfo, mdTable, median, positiveInt, readJsonIfExists, writeJson } from './lib.js';

const { values: args } = parseArgs({
  options: {
    bundle: { type: 'string', default: '/tmp/tt/debtags-classifier' },
    alpha: { type: 'string', default: '0.5' },
    queries: { type: 'string', default: '300' },
    fresh: { type: 'boolean', default: false },
    'latency-bundle': { type: 'string' },
  },
});
const bundle = resolve(args.bundle!);
const QUERIES = positiveInt('queries', args.queries);
const DATA = join(DATASETS_DIR, 'debtags');
const OUT = join(TMP_DIR, 'debtags-text');

type Metrics = Record<string, number> & { auto?: { chosen: Record<string, number | boolean>; trials: unknown[] }; teacher?: Record<string, number>; hnsw?: Record<string, number>; seconds: number; pairsScored?: number; stageSeconds?: Record<string, number> };

async function train(name: string, extra: string[], auto = false): Promise<Metrics> {
  const jsonPath = join(OUT, `${name}.json`);
  const cached = args.fresh ? null : await readJsonIfExists<Metrics>(jsonPath);
  if (cached) return cached;
  const { json } = await distilxrJson<Metrics>(['train', '--train', join(DATA, 'train.jsonl'), '--test', join(DATA, 'test.jsonl'), ...(auto ? [] : ['--no-auto']), '--seed', '1', '--out', join(OUT, name), ...extra], join(OUT, `${name}.log`));
  await writeJson(jsonPath, json);
  return json;
}

const plain = await train('student-alpha0', ['--alpha', '0']);
const distilled = await train(`student-distilled-alpha${args.alpha}`, ['--teacher', bundle, '--alpha', args.alpha!]);
// the default: no training setting given, so --auto picks α (and the rest) on a held-out slice
const auto = await train('student-auto', ['--teacher', bundle], true);

// query latency, one text at a time
const texts = (await readTexts(join(DATA, 'test.jsonl'))).slice(0, QUERIES);
const model = await loadModel(join(OUT, `student-distilled-alpha${args.alpha}`));
const teachers = [await TextTeacher.load(bundle), ...(args['latency-bundle'] ? [await TextTeacher.load(resolve(args['latency-bundle']))] : [])];
const studentMs: number[] = [];
const teacherMs: number[][] = teachers.map(() => []);
for (const text of texts.slice(0, 10)) {
  queryModel(model, { text }, 5); // warm-up
  for (const teacher of teachers) await teacher.trialScore(text, undefined, 5);
}
// alternating, one text at a time, so load on the shared machine hits every path alike
for (const text of texts) {
  let t0 = performance.now();
  queryModel(model, { text }, 5);
  studentMs.push(performance.now() - t0);
  for (const [i, teacher] of teachers.entries()) {
    t0 = performance.now();
    await teacher.trialScore(text, undefined, 5);
    teacherMs[i].push(performance.now() - t0);
  }
}
for (const teacher of teachers) await teacher.close();

// the student alone, by parts (each part includes the ones before it), no teacher run in between
const dim = model.student.shape.dim;
const q = new Float32Array(dim);
const encode = (text: string): void => {
  const x = encodeQueryInput(model, { text });
  model.student.encodeSparseInto(x.indices, x.values, 0, x.indices.length, q, 0);
};
const parts: [string, (text: string) => void][] = [
  ['featurise', (text) => encodeQueryInput(model, { text })],
  ['+ encode', encode],
  [
    '+ label search (100)',
    (text) => {
      encode(text);
      model.index!.searchBatch(q, 1, 100);
    },
  ],
  [
    '+ training points search (the vote)',
    (text) => {
      encode(text);
      model.index!.searchBatch(q, 1, 100);
      model.neighbours?.index.searchBatch(q, 1, model.neighbours.settings.neighbours);
    },
  ],
  ['queryModel (all of it, k=5)', (text) => queryModel(model, { text }, 5)],
];
const alone = parts.map(([name, f]) => {
  for (const text of texts.slice(0, 10)) f(text);
  const ms = texts.map((text) => {
    const t0 = performance.now();
    f(text);
    return performance.now() - t0;
  });
  return { name, ms: median(ms) };
});

const pct = (x: number | undefined) => (x === undefined ? '' : (100 * x).toFixed(2));
const t = distilled.teacher!;
console.log(`debtags (17,901 train / 4,518 test texts, 567 labels); teacher ${bundle}\n`);
console.log(mdTable(['', 'P@1', 'P@5', 'nDCG@5', 'ECE', 'seconds'], [
  ['teacher (transformer classifier, as train --teacher reports it)', pct(t['p@1']), pct(t['p@5']), pct(t['ndcg@5']), t.ece.toFixed(4), ''],
  ['student α=0 (no teacher), through HNSW', pct(plain.hnsw?.['p@1']), pct(plain.hnsw?.['p@5']), pct(plain.hnsw?.['ndcg@5']), '', plain.seconds.toFixed(1)],
  [`student distilled (α=${args.alpha}), through HNSW`, pct(distilled.hnsw?.['p@1']), pct(distilled.hnsw?.['p@5']), pct(distilled.hnsw?.['ndcg@5']), '', distilled.seconds.toFixed(1)],
  [`student, --auto (chose ${JSON.stringify(auto.auto?.chosen)}), through HNSW`, pct(auto.hnsw?.['p@1']), pct(auto.hnsw?.['p@5']), pct(auto.hnsw?.['ndcg@5']), '', auto.seconds.toFixed(1)],
]));
const sMed = median(studentMs);
const tMeds = teacherMs.map(median);
const tMed = tMeds[0];
const names = ['teacher above', 'BERT-base-shaped teacher (12 × 768, untrained: timing only)'];
console.log('\n' + mdTable(['one query (median of ' + texts.length + ')', 'ms', 'teacher / student'], [
  ['student (featurise + encode + HNSW k=5, neighbour vote)', sMed.toFixed(3), ''],
  ...tMeds.map((m, i) => [`${names[i]}: tokenise + transformer over all labels, batch 1`, m.toFixed(3), `${(m / sMed).toFixed(0)}×`]),
]));
console.log('\n' + mdTable(['the student alone, one query (median of ' + texts.length + ')', 'ms'], alone.map((a) => [a.name, a.ms.toFixed(3)])));
console.log(`\nteacher scoring in the distilled job: ${distilled.pairsScored} pairs in ${distilled.stageSeconds?.scoring?.toFixed(1)} s`);
await writeJson(join(RESULTS_DIR, 'debtags-text-teacher.json'), { machine: machineInfo(), bundle, alpha: Number(args.alpha), plain, distilled, auto, queryMs: { student: sMed, teacher: tMed, studentAll: studentMs, teacherAll: teacherMs[0], ...(tMeds[1] !== undefined ? { baseTeacher: tMeds[1], latencyBundle: resolve(args['latency-bundle']!) } : {}), studentAlone: alone } });
