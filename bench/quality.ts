/**
 * Table 1, "Quality": P@1/3/5, nDCG@5, PSP@5 on the five shared datasets (the MULAN XC splits of
 * Bibtex, Delicious and Corel5k; the JSONL text sets debtags and apt-files) for the peer methods of
 * ../shared/peers (their exported top-10, scored here), fastText run live, the baseline teacher
 * and the student in four settings (exact and through HNSW). Every row is scored by our
 * `evaluateRankings`, propensities from the training label counts. A benchmark: it prints a
 * markdown table and writes bench/results/quality.json (quality-quick.json with --quick,
 * quality-peers.json with --peers-only); nothing is asserted.
 *
 *   npx tsx bench/quality.ts [--datasets bibtex,delicious,corel5k,debtags,apt-files] [--quick]
 *                            [--peers-only [--lr-search]] [--fresh] [--teacher-dir DIR[,DIR]] [--seed 1]
 *                            [--lr-grid 0.05,0.1,0.25,0.5,1] [--students 'apt-files:2,4,5'] [--seeds 1,2,3]
 *
 * --json NAME: the results file under bench/results/ (default quality.json).
 * --seeds: each student setting runs once per seed; its row holds the means, and the student targets'
 * differences (against α=0 and the grid's best row, the best by its mean) are paired by seed, ± their
 * standard error. --seed N is --seeds N.
 * --students: which student settings run (1-based, in table order), for every dataset or per dataset
 * ('apt-files:2,4,5;1,2,3,4,5'); default all.
 * --quick: Bibtex only. --peers-only: only the peer and fastText rows (no teacher, no student);
 * fastText on the XC sets then reuses the learning rate the last full run picked (from
 * bench/results/quality.json) instead of searching the grid again, unless --lr-search or there is none.
 * Teachers are fitted with `distilxr teacher fit` into bench/results/tmp/<ds>/teacher.onnx (its
 * report kept beside it as teacher.onnx.fit.json) and reused on the next run unless --fresh;
 * --teacher-dir also looks for <DIR>/<ds>-teacher.onnx or <DIR>/<ds>/teacher.onnx (fold models
 * beside it).
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Dataset } from '../src/core/data/dataset.js';
import { loadTrainTest } from '../src/core/data/load-dataset.js';
import { DEFAULT_TRAIN_CONFIG } from '../src/core/model/train-config.js';
import { AUTO_RANDOM_START, AUTO_TEACHER_START, AUTO_TEACHER_START_DROPPED } from '../src/pipeline/auto-tune.js';
import { METRIC_KEYS, type MetricReport } from '../src/core/model/metrics.js';
import { ensureFasttext, fasttextEvaluate, fasttextEvaluateAtLr, fasttextEvaluateText, type FasttextResult, type FasttextTextOptions } from './fasttext.js';
import { teacherFor, type TeacherInfo } from './teachers.js';
import { RESULTS_DIR, TMP_DIR, datasetSplit, distilxrJson, machineInfo, mdTable, median, nonNegativeInts, parseArgs, readJsonIfExists, trainFlags, writeJson, type DatasetSplit } from './lib.js';
import { meanMetrics, pairedDifference } from './seed-stats.js';
import {
  DIFF_TOLERANCE_POINTS,
  PEER_KEYS,
  PEERS_DIR,
  diffPoints,
  labelsTxtToOurIds,
  maxAbsDiff,
  peerRows,
  readPeersJson,
  readTopKFile,
  splitFacts,
  type PeersJson,
  type ShownKey,
  type SplitFacts,
} from './peers.js';

const XC_REPOSITORY = 'http://manikvarma.org/downloads/XC/XMLRepository.html';
const ALL_DATASETS = ['bibtex', 'delicious', 'corel5k', 'debtags', 'apt-files'];
const SHOWN = Object.keys(PEER_KEYS) as ShownKey[];

type Kind = 'peer' | 'fasttext' | 'teacher' | 'student' | 'published';

interface Row {
  dataset: string;
  kind: Kind;
  method: string;
  note?: string;
  /** Exact metrics (students: exact search over all labels). */
  metrics?: MetricReport;
  /** Students: the same model's metrics through its HNSW index (the product's path). */
  hnswMetrics?: MetricReport;
  /** Training seconds: see the footnote printed under the table. */
  seconds?: number;
  /** ours − peers.json in points, for peer rows and the fastText runs that repeat a peer's. */
  diffPoints?: Partial<Record<ShownKey, number>>;
  /** The peers.json method diffPoints compares with. */
  comparedWith?: string;
  extra?: Record<string, unknown>;
}

/** The student settings: extra CLI flags, and whether they need the teacher. */
const STUDENT_SETTINGS: { method: string; flags: string[]; teacher: boolean }[] = [
  { method: 'student: hard negatives (α=0, no teacher)', flags: ['--alpha', '0'], teacher: false },
  { method: 'student: previous defaults (random start, no label bias, α=0.5, d=64)', flags: ['--no-auto', '--no-teacher-init', '--no-label-bias'], teacher: true },
  { method: 'student: manual defaults (teacher start, label bias, α=0.5, d=64)', flags: ['--no-auto'], teacher: true },
  { method: 'student: teacher start alone without label bias (epochs 0, d=256)', flags: ['--epochs', '0', '--dim', '256', '--no-label-bias'], teacher: true },
  // the --auto candidates run as fixed settings on the test split: the grid --auto is judged against
  // (with the teacher-start settings the search dropped: the grid stays what it was)
  ...[{ ...AUTO_TEACHER_START, candidates: [...AUTO_TEACHER_START.candidates, ...AUTO_TEACHER_START_DROPPED] }, AUTO_RANDOM_START].flatMap((family) =>
    family.candidates.map((c) => ({ method: `student grid (${family.name}): ${JSON.stringify(c)}`, flags: [...trainFlags({ ...family.base, ...c }), '--no-cross-fit'], teacher: true })),
  ),
  { method: 'student: --auto (the default: no setting given)', flags: [], teacher: true },
  // the neighbour component's effect (appended: earlier indices of --students keep their rows)
  { method: 'student: hard negatives (α=0, no teacher) without the neighbour component', flags: ['--alpha', '0', '--neighbours', '0'], teacher: false },
  { method: 'student: --auto without the neighbour component', flags: ['--auto', '--neighbours', '0'], teacher: true },
];

/**
 * fastText on the raw text of the JSONL sets: the settings of the best fastText row of peers.json
 * for that set (its `cmd`; checked against peers.json at run time), one thread.
 */
const FASTTEXT_TEXT: Record<string, { peer: string; opts: FasttextTextOptions }> = {
  debtags: { peer: 'ft-ova-ng2', opts: { loss: 'ova', dim: 64, epoch: 25, lr: 0.25, wordNgrams: 2, thread: 1, seed: 1 } },
  'apt-files': { peer: 'ft-hs-ng2', opts: { loss: 'hs', dim: 64, epoch: 25, lr: 0.5, wordNgrams: 2, thread: 1, seed: 1 } },
};

/** Our metric keys of a CLI JSON object (which also carries seconds, config, ...). */
function pickMetrics(json: Record<string, unknown> | undefined): MetricReport | undefined {
  if (!json) return undefined;
  const m: MetricReport = {};
  for (const k of METRIC_KEYS) if (typeof json[k] === 'number') m[k] = json[k] as number;
  return Object.keys(m).length ? m : undefined;
}

const num = (x: unknown): number | undefined => (typeof x === 'number' && Number.isFinite(x) ? x : undefined);

/** A loaded split: our train/test datasets and, for JSONL, peers' label ids (labels.txt lines) → ours. */
interface Loaded {
  split: DatasetSplit;
  train: Dataset;
  test: Dataset;
  /** labels.txt line → our label id (-1: a name we do not know). JSONL only. */
  txtToOurs?: Int32Array;
  /** label name → labels.txt line. JSONL only. */
  txtId?: Map<string, number>;
  labelsTxtUnknown?: number;
}

async function load(ds: string): Promise<Loaded> {
  const split = datasetSplit(ds);
  const { train, test } = await loadTrainTest(split.train, split.test, { cacheDir: false });
  if (!test) throw new Error(`${ds}: no test split`);
  if (split.format === 'xc') return { split, train, test };
  // our JSONL ids: training labels by first appearance, then test-only labels (test.labelNames extends train's)
  const names = test.labelNames ?? train.labelNames ?? [];
  const { map, unknown } = await labelsTxtToOurIds(split.labelsTxt!, names);
  const txtId = new Map<string, number>();
  (await readFile(split.labelsTxt!, 'utf8')).split('\n').forEach((n, i) => {
    if (n !== '') txtId.set(n, i);
  });
  return { split, train, test, txtToOurs: map, txtId, labelsTxtUnknown: unknown };
}

/** `-flag value` pairs of a command line. */
function cmdFlags(cmd: string): Map<string, string> {
  const t = cmd.trim().split(/\s+/);
  const m = new Map<string, string>();
  for (let i = 0; i < t.length - 1; i++) if (/^-[a-zA-Z]/.test(t[i])) m.set(t[i].slice(1), t[i + 1]);
  return m;
}

/** Where our fastText settings differ from the peer's `fasttext supervised` command ([] = none). */
function settingsMismatch(o: FasttextTextOptions, cmd: string | undefined): string[] {
  if (!cmd) return ['peers.json has no command for it'];
  const f = cmdFlags(cmd);
  const want: Record<string, string> = { loss: o.loss, dim: String(o.dim), epoch: String(o.epoch), lr: String(o.lr), wordNgrams: String(o.wordNgrams), thread: String(o.thread), seed: String(o.seed ?? 1) };
  const out: string[] = [];
  for (const [k, v] of Object.entries(want)) if ((f.get(k) ?? (k === 'wordNgrams' ? '1' : undefined)) !== v) out.push(`-${k}: ours ${v}, peer ${f.get(k) ?? '(unset)'}`);
  for (const k of f.keys()) if (!(k in want) && !['input', 'output'].includes(k)) out.push(`-${k} ${f.get(k)} in the peer's command only`);
  return out;
}

/** The learning rate a full run picked for fastText `loss` on `ds` (bench/results/quality.json), if any. */
async function pickedLr(ds: string, loss: string): Promise<number | undefined> {
  const q = await readJsonIfExists<{ rows: { dataset: string; method: string; extra?: { lr?: number } }[] }>(join(RESULTS_DIR, 'quality.json'));
  return q?.rows.find((r) => r.dataset === ds && r.method.startsWith(`fastText ${loss} `))?.extra?.lr;
}

async function fasttextRows(ds: string, d: Loaded, peers: PeersJson | null, ft: { lrGrid: number[]; reuseLr: boolean }): Promise<Row[]> {
  const work = join(TMP_DIR, ds);
  const rows: Row[] = [];
  if (d.split.format === 'xc') {
    // on one thread with the student's dim and epochs; learning rate by validation P@1, or the one a full run picked
    const cfg = DEFAULT_TRAIN_CONFIG;
    for (const loss of ['ova', 'ns'] as const) {
      const lr = ft.reuseLr ? await pickedLr(ds, loss) : undefined;
      process.stderr.write(`[${ds}] fastText ${loss}${lr === undefined ? '' : ` at lr ${lr} (picked by the last full run, bench/results/quality.json)`}\n`);
      const opts = { loss, dim: cfg.dim, epoch: cfg.epochs, thread: 1 };
      const r: FasttextResult = lr === undefined ? await fasttextEvaluate(d.train, d.test, work, { ...opts, lrGrid: ft.lrGrid }) : await fasttextEvaluateAtLr(d.train, d.test, work, { ...opts, lr });
      const extra = { lr: r.lr, lrGrid: r.lrGrid, lrFrom: lr === undefined ? 'validation P@1 over lrGrid' : 'bench/results/quality.json' };
      rows.push({ dataset: ds, kind: 'fasttext', method: `fastText ${loss} (dim ${cfg.dim}, ${cfg.epochs} epochs, lr ${r.lr})`, metrics: r.metrics, seconds: r.trainSeconds, extra });
    }
    return rows;
  }
  const spec = FASTTEXT_TEXT[ds];
  if (!spec) {
    process.stderr.write(`[${ds}] no fastText text settings for this dataset: skipped\n`);
    return rows;
  }
  const o = spec.opts;
  const ref = peers?.datasets[ds]?.methods[spec.peer];
  const mismatch = settingsMismatch(o, ref?.cmd?.[0]);
  if (mismatch.length) process.stderr.write(`[${ds}] warning: fastText settings differ from peers.json's ${spec.peer}: ${mismatch.join('; ')}\n`);
  process.stderr.write(`[${ds}] fastText ${o.loss} on the raw text, -wordNgrams ${o.wordNgrams} (settings of peers' ${spec.peer})\n`);
  // fastText's label ids = labels.txt lines, as the peers' files: the training file is then the peers' own
  const r = await fasttextEvaluateText(d.split.train, d.split.test, work, o, { ftId: d.txtId!, toOurs: d.txtToOurs! }, d.test.labels, d.train.labels);
  const extra: Record<string, unknown> = { args: r.args, predictSeconds: r.predictSeconds, settingsOf: spec.peer, settingsMismatch: mismatch };
  const diff = diffPoints(r.metrics, ref?.metrics);
  let note: string | undefined;
  const peerFile = join(PEERS_DIR, ds, `${spec.peer}.top10.txt`);
  if (existsSync(peerFile)) {
    // the peer's file holds fastText ids (labels.txt lines) too: compare the predictions themselves
    const theirs = await readTopKFile(peerFile, d.test.labels.rows, r.k);
    let sameList = 0;
    let sameTop1 = 0;
    for (let i = 0; i < d.test.labels.rows; i++) {
      const a = r.fasttextIds.subarray(i * r.k, (i + 1) * r.k);
      const b = theirs.predicted.subarray(i * r.k, (i + 1) * r.k);
      if (a[0] === b[0]) sameTop1++;
      if (a.every((x, j) => x === b[j])) sameList++;
    }
    extra.samePredictionsAsPeerFile = { rows: d.test.labels.rows, sameTop10List: sameList, sameTop1 };
    if (maxAbsDiff(diff) > DIFF_TOLERANCE_POINTS) {
      note =
        `a different fastText run, not a different scorer (the peer's own ${spec.peer}.top10.txt scores as peers.json says with our code): ` +
        `top-1 equal on ${sameTop1} of ${d.test.labels.rows} test rows, whole top-10 on ${sameList}` +
        (mismatch.length ? `; settings differ: ${mismatch.join('; ')}` : '; same settings and the same input lines, so the difference comes from the fastText process itself');
    }
  }
  rows.push({
    dataset: ds,
    kind: 'fasttext',
    method: `fastText ${o.loss}, -wordNgrams ${o.wordNgrams}, raw text (dim ${o.dim}, ${o.epoch} epochs, lr ${o.lr}; run here)`,
    metrics: r.metrics,
    seconds: r.trainSeconds,
    diffPoints: diff,
    comparedWith: ref ? spec.peer : undefined,
    note,
    extra,
  });
  return rows;
}

async function peerTableRows(ds: string, d: Loaded, peers: PeersJson | null): Promise<Row[]> {
  const pr = await peerRows(ds, d.train, d.test, peers, d.txtToOurs);
  pr.sort((a, b) => b.metrics['p@1'] - a.metrics['p@1']);
  return pr.map((p) => ({
    dataset: ds,
    kind: 'peer' as const,
    method: `peer: ${p.method}`,
    metrics: p.metrics,
    seconds: p.trainSeconds,
    diffPoints: p.diffPoints,
    comparedWith: p.reference ? p.method : undefined,
    note: p.note,
    extra: { file: p.file, reference: p.reference, predictSeconds: p.predictSeconds, peakRssMb: p.peakRssMb, cmd: p.cmd, read: p.read, sensitivity: p.sensitivity },
  }));
}

/** The teacher row: its own fit report when we have it, else the teacher metrics `train --teacher` reported. */
function teacherRow(ds: string, t: TeacherInfo, fromTrain: Record<string, unknown> | undefined): Row | null {
  const name = t.path.replace(/^.*\//, '');
  const src = t.fit ?? fromTrain;
  if (!src) return null;
  const extra: Record<string, unknown> = {
    source: t.fit ? 'teacher fit --json' : 'train --teacher --json (no fit report kept for this teacher)',
    ece: num(src.ece),
    eceCalibrated: num(src.eceCalibrated),
    temperature: num(src.temperature),
    threads: num(src.threads),
    fitSeconds: num(t.fit?.fitSeconds) ?? num(t.fit?.seconds),
    fitProcessSeconds: t.fitWallSeconds,
    fitReport: t.fit ?? undefined,
    metricsInTrain: pickMetrics(fromTrain),
  };
  return {
    dataset: ds,
    kind: 'teacher',
    method: `teacher (${name}; ${t.fit ? 'its fit report' : 'as train --teacher reports it'})`,
    metrics: pickMetrics(src),
    seconds: extra.fitSeconds as number | undefined,
    extra,
  };
}

/** --students a,b,...: 1-based indices into STUDENT_SETTINGS, per dataset as ds:1,2,4 (bare indices: every dataset). */
function studentSettingsFor(ds: string, spec: string | undefined): typeof STUDENT_SETTINGS {
  if (!spec) return STUDENT_SETTINGS;
  const parts = spec.split(';');
  const mine = parts.find((p) => p.startsWith(`${ds}:`)) ?? parts.find((p) => !p.includes(':'));
  if (!mine) return STUDENT_SETTINGS;
  const picked = mine.replace(/^[^:]*:/, '').split(',').map(Number);
  return STUDENT_SETTINGS.filter((_, i) => picked.includes(i + 1));
}

async function ourRows(ds: string, d: Loaded, o: { dirs: string[]; fresh: boolean; seeds: number[]; students?: string }): Promise<Row[]> {
  const { train: trainPath, test: testPath } = d.split;
  const rows: Row[] = [];
  const work = join(TMP_DIR, ds);
  const teacher = await teacherFor(ds, d.split, o.dirs, o.fresh);
  let teacherInTrain: Record<string, unknown> | undefined;
  for (const s of studentSettingsFor(ds, o.students)) {
    const slug = s.method.replace(/[^a-z0-9]+/gi, '-').toLowerCase().replace(/-+$/, '');
    const runs: { seed: number; json: Record<string, unknown>; seconds: number }[] = [];
    for (const seed of o.seeds) {
      const out = join(work, o.seeds.length > 1 ? `${slug}-seed${seed}` : slug);
      // one thread: the seed fixes the model bit for bit, as for the published figures (more threads would not)
      const args = ['train', '--train', trainPath, '--test', testPath, '--seed', String(seed), '--threads', '1', '--out', out, ...s.flags];
      if (s.teacher) args.push('--teacher', teacher.path);
      process.stderr.write(`[${ds}] ${s.method}, seed ${seed} (log: ${out}.log)\n`);
      const r = await distilxrJson<Record<string, unknown>>(args, `${out}.log`);
      runs.push({ seed, json: r.json, seconds: r.seconds });
      if (r.json.teacher && typeof r.json.teacher === 'object') teacherInTrain = r.json.teacher as Record<string, unknown>;
    }
    const j = runs[0].json;
    const exact = runs.map((x) => pickMetrics(x.json)).filter((m): m is MetricReport => m !== undefined);
    const hnsw = runs.map((x) => pickMetrics(x.json.hnsw as Record<string, unknown> | undefined)).filter((m): m is MetricReport => m !== undefined);
    rows.push({
      dataset: ds,
      kind: 'student',
      method: s.method,
      // with several seeds, the means over them (each seed's in extra.perSeed)
      metrics: exact.length === runs.length ? meanMetrics(exact) : undefined,
      hnswMetrics: hnsw.length === runs.length ? meanMetrics(hnsw) : undefined,
      seconds: median(runs.map((x) => x.seconds)),
      // the first seed's job details; each seed's metrics and choice in perSeed
      extra: {
        config: j.config,
        stageSeconds: j.stageSeconds,
        hnswRecallAt10: j.hnswRecallAt10,
        evaluatedPoints: j.evaluatedPoints,
        peakRssBytes: j.peakRssBytes,
        trainExamplesPerSecond: j.trainExamplesPerSecond,
        auto: j.auto,
        ...(runs.length > 1 ? { perSeed: runs.map((x, i) => ({ seed: x.seed, seconds: x.seconds, metrics: exact[i], hnswMetrics: hnsw[i], chosen: (x.json.auto as { chosen?: unknown } | undefined)?.chosen })) } : {}),
      },
    });
  }
  const tr = teacherRow(ds, teacher, teacherInTrain);
  if (tr) rows.unshift(tr);
  if (d.split.format === 'xc') rows.push({ dataset: ds, kind: 'published', method: `published results: not run here, possibly different split (${XC_REPOSITORY})`, note: 'see XC repository' });
  return rows;
}

/** Per dataset: split facts and how our scoring of the peers' files compares with peers.json. */
interface Comparison {
  dataset: string;
  facts: SplitFacts;
  labelsTxtNamesUnknownToUs?: number;
  peers: number;
  maxAbsDiffPoints: number;
  notes: string[];
}

function compare(ds: string, d: Loaded, rows: Row[]): Comparison {
  const peers = rows.filter((r) => r.kind === 'peer');
  const notes = rows.filter((r) => r.note && r.diffPoints).map((r) => `${r.method}: ${r.note}`);
  return {
    dataset: ds,
    facts: splitFacts(d.train, d.test),
    labelsTxtNamesUnknownToUs: d.labelsTxtUnknown,
    peers: peers.length,
    maxAbsDiffPoints: Math.max(0, ...peers.map((r) => maxAbsDiff(r.diffPoints))),
    notes,
  };
}

/** The paragraph printed under the table: agreement with peers.json and what could have broken it. */
function comparisonParagraph(cs: Comparison[], rows: Row[]): string {
  const out: string[] = [];
  const agree = cs.filter((c) => c.peers > 0 && c.maxAbsDiffPoints <= DIFF_TOLERANCE_POINTS);
  const n = agree.reduce((s, c) => s + c.peers, 0);
  if (agree.length) {
    const worst = Math.max(...agree.map((c) => c.maxAbsDiffPoints));
    out.push(
      `Peers scored with our metric code agree with peers.json: ${n} peer rows on ${agree.map((c) => c.dataset).join(', ')}, ` +
        `largest |difference| ${worst.toExponential(1)} points over P@1/3/5, nDCG@5, PSP@5 (tolerance ${DIFF_TOLERANCE_POINTS}).`,
    );
    const edge: string[] = [];
    for (const c of agree) {
      const f = c.facts;
      /** How far the other convention moves the peers' figures: max |Δ| in points, range over the peers. */
      const moved = (convention: string): string => {
        const xs = rows
          .filter((r) => r.dataset === c.dataset && r.kind === 'peer')
          .flatMap((r) => (r.extra?.sensitivity as { convention: string; maxAbsDiffPoints: number }[] | undefined) ?? [])
          .filter((x) => x.convention === convention)
          .map((x) => x.maxAbsDiffPoints);
        if (!xs.length) return 'n/a';
        const [lo, hi] = [Math.min(...xs).toFixed(2), Math.max(...xs).toFixed(2)];
        return `${lo === hi ? lo : `${lo}–${hi}`} points`;
      };
      if (f.testRowsWithoutLabels) {
        edge.push(
          `${c.dataset} has ${f.testRowsWithoutLabels} test rows without labels (both keep them in the mean, scoring 0; ` +
            `leaving them out would move a peer's figures by ${moved('rows-without-labels-left-out')})`,
        );
      }
      if (f.testLabelsUnseenInTrain) {
        edge.push(
          `${c.dataset} has ${f.testLabelsUnseenInTrain} test label occurrences (${f.distinctTestLabelsUnseenInTrain} labels) with no training point ` +
            `(both keep them in the truth, so in the ideal DCG and PSP, with the count-0 propensity; ` +
            `removing them would move a peer's figures by ${moved('labels-unseen-in-train-removed')})`,
        );
      }
      const short = rows.filter((r) => r.dataset === c.dataset && r.kind === 'peer' && ((r.extra?.read as { shortLines?: number } | undefined)?.shortLines ?? 0) > 0);
      for (const r of short) {
        const k = (r.extra!.read as { shortLines: number }).shortLines;
        edge.push(`${c.dataset} ${r.method.replace('peer: ', '')} has ${k} row${k === 1 ? '' : 's'} with fewer than 5 predictions (a miss for both)`);
      }
      if (c.labelsTxtNamesUnknownToUs) edge.push(`${c.dataset}: ${c.labelsTxtNamesUnknownToUs} labels.txt names appear in neither of our splits (never a hit)`);
    }
    if (edge.length) out.push(`Edge cases where two scorers could part, present here and treated alike: ${edge.join('; ')}.`);
  }
  for (const c of cs) {
    if (c.peers > 0 && c.maxAbsDiffPoints > DIFF_TOLERANCE_POINTS) out.push(`${c.dataset}: peers differ from peers.json by up to ${c.maxAbsDiffPoints.toFixed(3)} points.`);
    for (const note of c.notes) out.push(`${c.dataset}, ${note}`);
  }
  for (const r of rows.filter((x) => x.kind === 'fasttext' && x.comparedWith && !x.note)) {
    const same = r.extra?.samePredictionsAsPeerFile as { rows: number; sameTop10List: number } | undefined;
    out.push(
      `${r.dataset}, ${r.method}: within ${DIFF_TOLERANCE_POINTS} points of peers' ${r.comparedWith}` +
        (same ? ` (the same top-10 as the peer's file on ${same.sameTop10List} of ${same.rows} test rows).` : '.'),
    );
  }
  return out.join('\n\n');
}

function diffCell(r: Row): string {
  if (!r.diffPoints) return '';
  const entries = Object.entries(r.diffPoints) as [ShownKey, number][];
  if (!entries.length) return '';
  const [k, v] = entries.reduce((a, b) => (Math.abs(b[1]) > Math.abs(a[1]) ? b : a));
  const vs = r.kind === 'peer' ? '' : `vs ${r.comparedWith}: `;
  return Math.abs(v) < 0.005 ? `${vs}0.00` : `${vs}${k.toUpperCase().replace('NDCG', 'nDCG')} ${v > 0 ? '+' : ''}${v.toFixed(2)}`;
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  const quick = a.has('quick');
  const peersOnly = a.has('peers-only');
  const datasets = quick ? ['bibtex'] : String(a.get('datasets') ?? ALL_DATASETS.join(',')).split(',');
  const dirs = typeof a.get('teacher-dir') === 'string' ? String(a.get('teacher-dir')).split(',') : [];
  const lrGrid = String(a.get('lr-grid') ?? '0.05,0.1,0.25,0.5,1').split(',').map(Number);
  // --seeds 1,2,3: every student setting once per seed, its row the means (the targets' differences paired by seed)
  const seedFlag = a.has('seeds') ? 'seeds' : 'seed';
  const seeds = nonNegativeInts(seedFlag, String(a.get(seedFlag) ?? 1));
  const seed = seeds[0];
  ensureFasttext();
  const peers = await readPeersJson();
  if (!peers) process.stderr.write(`no ${join(PEERS_DIR, 'peers.json')}: peer rows are scored but not compared\n`);

  const jsonName = typeof a.get('json') === 'string' ? String(a.get('json')) : `quality${peersOnly ? '-peers' : ''}${quick ? '-quick' : ''}.json`;
  const rows: Row[] = [];
  const comparisons: Comparison[] = [];
  for (const ds of datasets) {
    process.stderr.write(`[${ds}] loading\n`);
    const d = await load(ds);
    const dsRows = [...(await fasttextRows(ds, d, peers, { lrGrid, reuseLr: peersOnly && !a.has('lr-search') })), ...(await peerTableRows(ds, d, peers))];
    if (!peersOnly) dsRows.push(...(await ourRows(ds, d, { dirs, fresh: a.has('fresh'), seeds, students: typeof a.get('students') === 'string' ? String(a.get('students')) : undefined })));
    rows.push(...dsRows);
    comparisons.push(compare(ds, d, dsRows));
    // partial results survive a later failure
    await writeJson(join(RESULTS_DIR, jsonName), { machine: machineInfo(), seed, seeds, lrGrid, datasets, peersOnly, peersScorer: peers?.scorer, rows, comparisons });
  }
  const paragraph = comparisonParagraph(comparisons, rows);
  await writeJson(join(RESULTS_DIR, jsonName), { machine: machineInfo(), seed, seeds, lrGrid, datasets, peersOnly, peersScorer: peers?.scorer, rows, comparisons, comparisonSummary: paragraph });

  const pct = (x: number | undefined): string => (x === undefined ? '' : (100 * x).toFixed(2));
  const withEce = rows.some((r) => r.extra?.ece !== undefined || r.extra?.eceCalibrated !== undefined);
  const header = ['dataset', 'method', ...SHOWN.map((k) => k.toUpperCase().replace('NDCG', 'nDCG')), 'train s', ...(withEce ? ['ECE raw', 'ECE cal.'] : []), 'Δ vs peers.json'];
  const line = (r: Row, m: MetricReport | undefined, method: string, first: boolean): string[] => [
    r.dataset,
    method,
    ...SHOWN.map((k, i) => (m ? pct(m[k]) : i === 0 ? r.note ?? '' : '')),
    first && r.seconds !== undefined ? r.seconds.toFixed(1) : '',
    ...(withEce ? [pct(num(r.extra?.ece)), pct(num(r.extra?.eceCalibrated))] : []),
    first ? diffCell(r) : '',
  ];
  const body: string[][] = [];
  for (const r of rows) {
    if (r.kind === 'student') {
      body.push(line(r, r.metrics, `${r.method}, exact`, true));
      if (r.hnswMetrics) body.push(line(r, r.hnswMetrics, `${r.method}, through HNSW`, false));
    } else {
      body.push(line(r, r.metrics, r.method, true));
    }
  }
  process.stdout.write(`\n## Quality (test splits, %; ${seeds.length > 1 ? `students: the mean over seeds ${seeds.join(', ')}` : `seed ${seed}`})\n\n${mdTable(header, body)}\n\n`);
  process.stdout.write(
    'train s: peers = their train process (peers.json: wall time, 1 thread, on this machine kind, noisy); fastText = its final training process; ' +
      'teacher = its fit including the fold models (from its report); student = the whole `distilxr train` job. ' +
      `Δ vs peers.json: ours − peers.json in points, the metric with the largest |Δ| (fastText run here: against the peer row with its settings).` +
      (withEce ? ' ECE in %: the teacher\'s top-1 calibration error, raw and after temperature scaling.' : '') +
      ` Raw: bench/results/${jsonName}\n\n`,
  );
  if (paragraph) process.stdout.write(`${paragraph}\n`);
  if (!peersOnly) process.stdout.write(`\n${teacherTargets(datasets, rows, peers)}\n\n${studentTargets(datasets, rows)}\n`);
}

/**
 * Issue 9's targets for the teacher, per dataset: test P@1 ≥ the best peer's (scored here), fit
 * wall time (the whole `teacher fit` process) ≤ 5× PECOS's train seconds (pecos-default in peers.json).
 */
function teacherTargets(datasets: string[], rows: Row[], peers: PeersJson | null): string {
  const body: string[][] = [];
  for (const ds of datasets) {
    const t = rows.find((r) => r.dataset === ds && r.kind === 'teacher');
    const best = rows.filter((r) => r.dataset === ds && r.kind === 'peer').sort((a, b) => (b.metrics?.['p@1'] ?? 0) - (a.metrics?.['p@1'] ?? 0))[0];
    const pecos = peers?.datasets[ds]?.methods['pecos-default']?.train_seconds;
    const wall = num(t?.extra?.fitProcessSeconds);
    const p1 = t?.metrics?.['p@1'];
    const bp1 = best?.metrics?.['p@1'];
    const rss = num((t?.extra?.fitReport as Record<string, unknown> | undefined)?.peakRssBytes);
    const gap = p1 !== undefined && bp1 !== undefined ? 100 * (p1 - bp1) : undefined;
    body.push([
      ds,
      bp1 === undefined ? '' : `${(100 * bp1).toFixed(2)} (${best!.method.replace('peer: ', '')})`,
      p1 === undefined ? '' : (100 * p1).toFixed(2),
      gap === undefined ? '' : `${gap >= 0 ? 'met' : 'missed'} (${gap >= 0 ? '+' : ''}${gap.toFixed(2)})`,
      pecos === undefined ? '' : (5 * pecos).toFixed(1),
      wall === undefined ? '' : wall.toFixed(1),
      wall === undefined || pecos === undefined ? '' : `${wall <= 5 * pecos ? 'met' : 'missed'} (${(wall / pecos).toFixed(1)}× PECOS)`,
      String(num(t?.extra?.threads) ?? ''),
      rss === undefined ? '' : (rss / 2 ** 30).toFixed(2),
    ]);
  }
  return `### Teacher targets\n\n${mdTable(['dataset', 'best peer P@1', 'teacher P@1', 'P@1 target', '5× PECOS s', 'teacher fit s (process)', 'time target', 'threads', 'peak RSS GB'], body)}\n`;
}

await main();

/**
 * Issue 10's targets for the default student (--auto), per dataset, through HNSW: P@1 and P@5 ≥ the
 * best peer's, PSP@5 ≥ the best peer's (on 3 of 5), distillation ≥ α=0 + 1 P@1, within 0.5 P@1 of
 * the best grid setting, and its whole process (tuning included, teacher fit excluded) ≤ 2× the
 * fastest peer's train seconds. With several seeds every student figure is a mean over them and the
 * differences are paired by seed (± one standard error).
 */
function studentTargets(datasets: string[], rows: Row[]): string {
  const body: string[][] = [];
  const pts = (x: number | undefined): string => (x === undefined ? '' : (100 * x).toFixed(2));
  const diff = (a: number | undefined, b: number | undefined): string => (a === undefined || b === undefined ? '' : `${a >= b ? '+' : ''}${(100 * (a - b)).toFixed(2)}`);
  // rows run with several seeds: the difference of their exact P@1 paired by seed, ± its standard error
  const seedP1 = (r: Row): number[] => ((r.extra?.perSeed as { metrics?: MetricReport }[] | undefined) ?? []).map((x) => x.metrics?.['p@1'] ?? Number.NaN);
  const diffOfRows = (a: Row, b: Row | undefined): string => {
    if (!b) return '';
    const [sa, sb] = [seedP1(a), seedP1(b)];
    if (sa.length < 2 || sa.length !== sb.length) return diff(a.metrics?.['p@1'], b.metrics?.['p@1']);
    const d = pairedDifference(sa, sb);
    return `${d.mean >= 0 ? '+' : ''}${(100 * d.mean).toFixed(2)} ± ${(100 * (d.standardError ?? 0)).toFixed(2)}`;
  };
  for (const ds of datasets) {
    const mine = rows.filter((r) => r.dataset === ds);
    const auto = mine.find((r) => r.method.startsWith('student: --auto'));
    if (!auto) continue;
    const peers = mine.filter((r) => r.kind === 'peer');
    const best = (k: 'p@1' | 'p@5' | 'psp@5'): number | undefined => (peers.length ? Math.max(...peers.map((r) => r.metrics?.[k] ?? 0)) : undefined);
    const fastest = peers.length ? Math.min(...peers.map((r) => r.seconds ?? Infinity)) : undefined;
    const plain = mine.find((r) => r.method.startsWith('student: hard negatives (α=0'));
    const grid = mine.filter((r) => r.method.startsWith('student grid')).sort((a, b) => (b.metrics?.['p@1'] ?? 0) - (a.metrics?.['p@1'] ?? 0))[0];
    const h = auto.hnswMetrics;
    body.push([
      ds,
      `${pts(h?.['p@1'])} (${diff(h?.['p@1'], best('p@1'))})`,
      `${pts(h?.['p@5'])} (${diff(h?.['p@5'], best('p@5'))})`,
      `${pts(h?.['psp@5'])} (${diff(h?.['psp@5'], best('psp@5'))})`,
      diffOfRows(auto, plain),
      grid ? `${pts(grid.metrics?.['p@1'])} ${grid.method.replace('student grid ', '')} (${diffOfRows(auto, grid)})` : '',
      auto.seconds === undefined || fastest === undefined ? '' : `${auto.seconds.toFixed(1)} / ${fastest.toFixed(1)} = ${(auto.seconds / fastest).toFixed(1)}×`,
    ]);
  }
  return `### Student targets (--auto, through HNSW; in brackets: minus the best peer)\n\n${mdTable(['dataset', 'P@1', 'P@5', 'PSP@5', 'P@1 − α=0', 'best grid P@1 (auto − it)', 'student s / fastest peer s'], body)}\n`;
}
