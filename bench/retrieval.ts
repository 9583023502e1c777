/**
 * Table 4 "Retrieval": HNSW (LabelIndex.searchBatch) at several ef against exact search
 * (exactTopK) over a trained model's label embeddings: recall of HNSW against exact, queries/s,
 * and P@1 / P@5 through each.
 *
 *   npm run bench:retrieval                       # Delicious (trained here if missing) + synth100k if present
 *   npm run bench:retrieval -- --synth            # also generate + train the 100k-label synthetic model if missing
 *   npm run bench:retrieval -- --model DIR --test FILE [--name NAME] [--max-test N]
 *   options: --reps 3, --min-seconds 1 (a short search pass is repeated until this much time passed)
 *
 * Per model: test queries are encoded once (student.encodeAll); then, per repetition, exact and
 * every (ef, k) HNSW search run over all queries, order rotated every repetition; queries/s is the
 * median of --reps. hnswlib searches with max(ef, k), so ef=50 at k=100 runs as ef=100.
 * Benchmark, not a test: prints markdown tables, writes bench/results/retrieval.json.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { exactTopK } from '../src/ann/exact-search.js';
import { selectRows } from '../src/core/data/csr.js';
import type { Dataset } from '../src/core/data/dataset.js';
import { loadDataset } from '../src/core/data/load-dataset.js';
import { evaluateRankings } from '../src/core/model/metrics.js';
import { FILES, loadModel, modelPropensities } from '../src/pipeline/model-dir.js';
import { REPO_ROOT as ROOT, RESULTS_DIR, TMP_DIR as TMP, distilxrJson, machineInfo, median, mulanSplit, positiveInt, recallAt, run, writeJson } from './lib.js';
const EFS = [50, 100, 200];
const KS = [10, 100];

const { values: args } = parseArgs({
  options: {
    model: { type: 'string' },
    test: { type: 'string' },
    name: { type: 'string' },
    'max-test': { type: 'string' },
    reps: { type: 'string', default: '3' },
    'min-seconds': { type: 'string', default: '1' },
    synth: { type: 'boolean', default: false },
  },
});
const REPS = positiveInt('reps', args.reps);
const MIN_SECONDS = Number(args['min-seconds']);
if (!(MIN_SECONDS >= 0)) throw new RangeError(`--min-seconds must be >= 0, got ${args['min-seconds']}`);
const MAX_TEST = args['max-test'] === undefined ? Infinity : positiveInt('max-test', args['max-test']);

interface Target {
  name: string;
  model: string;
  test: string;
  /** Builds the model directory (and its data) when missing; null: skip when missing. */
  prepare: (() => Promise<void>) | null;
}

/** `distilxr ARGS --json` (via lib's distilxrJson; its stderr goes to `<jsonFile>.log`), the JSON saved to `jsonFile`. */
async function distilxrTrain(argv: string[], jsonFile: string): Promise<void> {
  process.stderr.write(`$ distilxr ${argv.join(' ')} --json  (log: ${rel(jsonFile)}.log)\n`);
  const r = await distilxrJson(argv, `${jsonFile}.log`);
  await writeJson(jsonFile, r.json);
  process.stderr.write(`  (${r.seconds.toFixed(1)} s)\n`);
}

function rel(p: string): string {
  return relative(ROOT, p) || '.';
}

function targets(): Target[] {
  if (args.model || args.test) {
    if (!args.model || !args.test) throw new Error('--model and --test go together');
    return [{ name: args.name ?? args.model, model: args.model, test: args.test, prepare: null }];
  }
  const split = mulanSplit('delicious');
  const delicious: Target = {
    name: 'Delicious (L=983)',
    model: join(TMP, 'delicious-model'),
    test: split.test,
    prepare: () =>
      distilxrTrain(
        ['train', '--train', rel(split.train), '--test', rel(split.test), '--alpha', '0', '--out', rel(join(TMP, 'delicious-model'))],
        join(TMP, 'delicious-train.json'),
      ),
  };
  const synthData = join(TMP, 'synth100k');
  // Training evaluates by exact search over all 100k labels: a 2,000-point test file keeps it short.
  const synthTest = join(synthData, 'test2k.txt');
  const synth: Target = {
    name: 'synth100k (L=100,000)',
    model: join(TMP, 'synth100k-model'),
    test: synthTest,
    prepare: args.synth
      ? async () => {
          if (!existsSync(join(synthData, 'train.txt'))) {
            const synthArgs = ['data', 'synth', '--out', rel(synthData), '--points', '100000', '--features', '20000', '--labels', '100000'];
            process.stderr.write(`$ distilxr ${synthArgs.join(' ')}\n`);
            await run(process.execPath, [join(ROOT, 'bin', 'distilxr.js'), ...synthArgs]);
          }
          if (!existsSync(synthTest)) writeHead(join(synthData, 'test.txt'), synthTest, 2000);
          await distilxrTrain(
            ['train', '--train', rel(join(synthData, 'train.txt')), '--test', rel(synthTest), '--alpha', '0', '--epochs', '3',
              '--out', rel(join(TMP, 'synth100k-model'))],
            join(TMP, 'synth-train.json'),
          );
        }
      : null,
  };
  return [delicious, synth];
}

/** Writes the first n points of an XC file (header rewritten) to `to`. */
function writeHead(from: string, to: string, n: number): void {
  const r = spawnSync('head', ['-n', String(n + 1), from], { maxBuffer: 1 << 30 });
  const lines = r.stdout.toString('utf8').split('\n');
  const [, features, labels] = lines[0].split(' ');
  lines[0] = `${n} ${features} ${labels}`;
  writeFileSync(to, `${lines.slice(0, n + 1).join('\n')}\n`);
}

async function benchTarget(t: Target) {
  const model = await loadModel(t.model);
  let test: Dataset = await loadDataset(t.test, { featurizer: model.featurizer ?? undefined, labelMap: model.labelMap ?? undefined });
  if (test.features.rows > MAX_TEST) {
    const ids = Int32Array.from({ length: MAX_TEST }, (_, i) => i);
    test = { ...test, features: selectRows(test.features, ids), labels: selectRows(test.labels, ids) };
  }
  const { dim, numLabels } = model.student.shape;
  const n = test.features.rows;
  const V = model.student.V;
  const t0 = process.hrtime.bigint();
  const queries = model.student.encodeAll(test.features);
  const encodeSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const propensities = modelPropensities(model, test);

  type Variant = { key: string; ef: number | null; k: number; run: () => Int32Array };
  const variants: Variant[] = [];
  for (const k of KS) {
    variants.push({ key: `exact k=${k}`, ef: null, k, run: () => exactTopK(V, numLabels, dim, queries, n, k).labels });
    for (const ef of EFS) {
      variants.push({ key: `hnsw ef=${ef} k=${k}`, ef, k, run: () => model.index.searchBatch(queries, n, k, { ef }).labels });
    }
  }
  const seconds = new Map<string, number[]>(variants.map((v) => [v.key, []]));
  const labels = new Map<string, Int32Array>();
  for (let r = 0; r < REPS; r++) {
    for (let j = 0; j < variants.length; j++) {
      const v = variants[(r + j) % variants.length]; // rotate the order every repetition
      // Repeat short searches until MIN_SECONDS have passed: one timing = seconds per pass.
      let passes = 0;
      let elapsed = 0;
      let out: Int32Array;
      const s0 = process.hrtime.bigint();
      do {
        out = v.run();
        passes++;
        elapsed = Number(process.hrtime.bigint() - s0) / 1e9;
      } while (elapsed < MIN_SECONDS);
      seconds.get(v.key)!.push(elapsed / passes);
      labels.set(v.key, out);
    }
    process.stderr.write(`${t.name}: repetition ${r + 1}/${REPS}\n`);
  }
  const qps = (key: string): number => n / median(seconds.get(key)!);
  // Speed-up over exact per repetition (both ran in the same repetition), then the median.
  const speedup = (k: number, key: string): number => {
    const ex = seconds.get(`exact k=${k}`)!;
    return median(seconds.get(key)!.map((s, r) => ex[r] / s));
  };
  const exact10 = labels.get('exact k=10')!;
  const exact100 = labels.get('exact k=100')!;
  const prec = (pred: Int32Array) => {
    const m = evaluateRankings(pred, 10, test.labels, propensities);
    return { p1: m['p@1'], p5: m['p@5'] };
  };
  const rows = [
    { search: 'exact', ef: null as number | null, recall10: 1, recall100: 1, qps10: qps('exact k=10'), qps100: qps('exact k=100'), speedup10: 1, speedup100: 1, ...prec(exact10) },
  ];
  for (const ef of EFS) {
    rows.push({
      search: 'hnsw',
      ef,
      recall10: recallAt(exact100, 100, labels.get(`hnsw ef=${ef} k=10`)!, 10, 10, n),
      recall100: recallAt(exact100, 100, labels.get(`hnsw ef=${ef} k=100`)!, 100, Math.min(100, numLabels), n),
      qps10: qps(`hnsw ef=${ef} k=10`),
      qps100: qps(`hnsw ef=${ef} k=100`),
      speedup10: speedup(10, `hnsw ef=${ef} k=10`),
      speedup100: speedup(100, `hnsw ef=${ef} k=100`),
      ...prec(labels.get(`hnsw ef=${ef} k=10`)!),
    });
  }
  return {
    name: t.name,
    model: rel(t.model),
    test: rel(t.test),
    queries: n,
    numLabels,
    dim,
    hnsw: model.config.hnsw,
    encodeQueriesPerSec: n / encodeSeconds,
    seconds: Object.fromEntries(seconds),
    rows,
  };
}

async function main(): Promise<void> {
  const results = [];
  for (const t of targets()) {
    if (!existsSync(join(t.model, FILES.config))) {
      if (!t.prepare) {
        process.stderr.write(`skipping ${t.name}: no model at ${rel(t.model)} (npm run bench:retrieval -- --synth builds it)\n`);
        continue;
      }
      await mkdir(TMP, { recursive: true });
      await t.prepare();
    }
    results.push(await benchTarget(t));
  }

  const f3 = (x: number) => x.toFixed(3);
  const fq = (x: number) => Math.round(x).toLocaleString('en-US');
  const lines: string[] = [];
  for (const r of results) {
    lines.push(
      `### Table 4: Retrieval — ${r.name}`,
      '',
      `${fq(r.queries)} test queries, d=${r.dim}, L=${fq(r.numLabels)}; HNSW M=${r.hnsw.M}, efConstruction=${r.hnsw.efConstruction} ` +
        `(model default efSearch=${r.hnsw.efSearch}); 1 thread; queries/s = median of ${REPS} alternating runs ` +
        `(each repeats its search pass for ≥ ${MIN_SECONDS} s). ` +
        `speed-up = median over repetitions of exact time / HNSW time; recall@k = share of the exact top-k that HNSW returns; P@k against the test labels (top-10 search).`,
      '',
      '| search | ef | recall@10 | recall@100 | q/s (k=10) | q/s (k=100) | speed-up vs exact (k=10 / k=100) | P@1 | P@5 |',
      '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    );
    for (const row of r.rows) {
      const speed = `${row.speedup10.toFixed(1)}× / ${row.speedup100.toFixed(1)}×`;
      lines.push(
        `| ${row.search} | ${row.ef ?? '—'} | ${f3(row.recall10)} | ${f3(row.recall100)} | ${fq(row.qps10)} | ${fq(row.qps100)} | ${speed} | ${f3(row.p1)} | ${f3(row.p5)} |`,
      );
    }
    lines.push('', `Query encoding (student.encodeAll): ${fq(r.encodeQueriesPerSec)} queries/s. hnswlib searches with max(ef, k): ef=50 at k=100 runs as ef=100.`, '');
  }
  console.log(lines.join('\n'));

  const out = join(RESULTS_DIR, 'retrieval.json');
  const report = {
    bench: 'retrieval',
    date: new Date().toISOString(),
    machine: { ...machineInfo(), cpu: cpus()[0]?.model ?? 'unknown', loadavg: loadavg() },
    params: { efs: EFS, ks: KS, reps: REPS, minSeconds: MIN_SECONDS, maxTest: Number.isFinite(MAX_TEST) ? MAX_TEST : null },
    results,
  };
  await writeJson(out, report);
  console.error(`raw results: ${out}`);
}

await main();
