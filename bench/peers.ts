/**
 * Peer methods (../shared/peers, see its README): each `<ds>/<method>.top10.txt` holds a method's
 * top-10 label ids per test row (test-file order, best first, empty line = no prediction), scored
 * here with OUR metric code (`score` in fasttext.ts = evaluateRankings with propensities from the
 * training label counts, A=0.55 B=1.5) and compared with the figures peers.json reports for it.
 *
 * Label ids: XC sets use the XC files' ids, which are ours too. JSONL sets use the 0-based line of
 * the label in the dataset's labels.txt; our JSONL loader numbers labels itself (order of first
 * appearance in train, then test-only labels), so peer ids are mapped to ours by name. A name our
 * label map does not know becomes -1, which evaluateRankings never counts as a hit.
 */
import { existsSync, readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { CsrBuilder, selectRows, type Csr } from '../src/core/data/csr.js';
import type { Dataset } from '../src/core/data/dataset.js';
import type { MetricReport } from '../src/core/model/metrics.js';
import { score } from './fasttext.js';
import { DATASETS_DIR } from './lib.js';

export const PEERS_DIR = resolve(DATASETS_DIR, '..', 'peers');

/** Our metric keys and peers.json's spelling of them. */
export const PEER_KEYS = { 'p@1': 'P@1', 'p@3': 'P@3', 'p@5': 'P@5', 'ndcg@5': 'nDCG@5', 'psp@5': 'PSP@5' } as const;
export type ShownKey = keyof typeof PEER_KEYS;

/** Differences above this many points (of 100) get a note. */
export const DIFF_TOLERANCE_POINTS = 0.05;

export interface PeerReference {
  metrics: Record<string, number>;
  train_seconds?: number;
  predict_seconds?: number;
  peak_rss_mb?: number;
  cmd?: string[];
  featurization?: string;
}

export interface PeersJson {
  scorer?: string;
  datasets: Record<string, { n_train?: number; n_test?: number; n_labels?: number; methods: Record<string, PeerReference> }>;
}

export async function readPeersJson(): Promise<PeersJson | null> {
  const path = join(PEERS_DIR, 'peers.json');
  return existsSync(path) ? (JSON.parse(await readFile(path, 'utf8')) as PeersJson) : null;
}

/**
 * The bar on one dataset as peers.json gives it: per metric the best peer's value (%) and name, and
 * the fastest peer's name and train seconds. Null when peers.json has no such dataset.
 */
export function peerBar(peers: PeersJson | null, ds: string): { best: Record<'P@1' | 'P@5' | 'PSP@5', string>; fastest: string; fastestMethod: string; fastestSeconds: number } | null {
  const methods = Object.entries(peers?.datasets[ds]?.methods ?? {});
  if (!methods.length) return null;
  const best = (key: string): string => {
    const [name, ref] = methods.reduce((a, b) => ((b[1].metrics[key] ?? -1) > (a[1].metrics[key] ?? -1) ? b : a));
    return `${(100 * ref.metrics[key]).toFixed(2)} (${name})`;
  };
  const [fastName, fast] = methods.reduce((a, b) => ((b[1].train_seconds ?? Infinity) < (a[1].train_seconds ?? Infinity) ? b : a));
  return { best: { 'P@1': best('P@1'), 'P@5': best('P@5'), 'PSP@5': best('PSP@5') }, fastest: `${fast.train_seconds} s (${fastName})`, fastestMethod: fastName, fastestSeconds: fast.train_seconds ?? Number.NaN };
}

/** The methods that have a `<ds>/<method>.top10.txt`, sorted. */
export function peerMethods(ds: string): string[] {
  const dir = join(PEERS_DIR, ds);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.top10.txt'))
    .map((f) => f.slice(0, -'.top10.txt'.length))
    .sort();
}

/** Lines of a text file without the final newline's empty tail. */
async function readLines(path: string): Promise<string[]> {
  const lines = (await readFile(path, 'utf8')).split('\n');
  if (lines.length && lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/**
 * labels.txt line → our label id, by name: `names` are our label names by id (for a JSONL split,
 * the test dataset's labelNames: training labels first, then labels seen only in test). -1 for a
 * name we do not know. `unknown` counts those.
 */
export async function labelsTxtToOurIds(labelsTxt: string, names: readonly string[]): Promise<{ map: Int32Array; unknown: number; labelsTxtLines: number }> {
  const ours = new Map<string, number>();
  names.forEach((n, i) => {
    ours.set(n, i);
  });
  const lines = await readLines(labelsTxt);
  const map = new Int32Array(lines.length);
  let unknown = 0;
  for (let i = 0; i < lines.length; i++) {
    const id = ours.get(lines[i]);
    map[i] = id ?? -1;
    if (id === undefined) unknown++;
  }
  return { map, unknown, labelsTxtLines: lines.length };
}

export interface TopKFile {
  /** [rows, k] our label ids, best first; -1 = none or a label we do not know. */
  predicted: Int32Array;
  k: number;
  /** Rows with no prediction at all. */
  emptyLines: number;
  /** Rows with fewer than 5 predictions (P@5 and PSP@5 count the missing ones as misses). */
  shortLines: number;
  /** Ids that map to no label of ours (JSONL: a labels.txt line whose name we do not know). */
  unmappedIds: number;
  /** Repeated ids within a line, dropped (evaluateRankings would count each as a hit). */
  duplicates: number;
}

/**
 * Reads a top-k file (one line per test row, space-separated 0-based ids, best first). `map`
 * translates its ids to ours (an id outside `map` or mapped to -1 stays -1); without it the ids
 * are ours already. Throws unless it has exactly `rows` lines and every id is a non-negative integer.
 */
export async function readTopKFile(path: string, rows: number, k = 10, map?: Int32Array): Promise<TopKFile> {
  const lines = await readLines(path);
  if (lines.length !== rows) throw new Error(`${path}: ${lines.length} lines for ${rows} test rows`);
  const predicted = new Int32Array(rows * k).fill(-1);
  const r: TopKFile = { predicted, k, emptyLines: 0, shortLines: 0, unmappedIds: 0, duplicates: 0 };
  for (let i = 0; i < rows; i++) {
    const tok = lines[i].trim() === '' ? [] : lines[i].trim().split(/\s+/);
    if (tok.length === 0) r.emptyLines++;
    if (tok.length < 5) r.shortLines++;
    const seen = new Set<number>();
    let j = 0;
    for (const t of tok) {
      if (!/^\d+$/.test(t)) throw new Error(`${path}:${i + 1}: label id ${JSON.stringify(t)} is not a non-negative integer`);
      const raw = Number(t);
      if (seen.has(raw)) {
        r.duplicates++;
        continue;
      }
      seen.add(raw);
      const id = map ? (raw < map.length ? map[raw] : -1) : raw;
      if (id < 0) r.unmappedIds++;
      if (j < k) predicted[i * k + j++] = id;
    }
  }
  return r;
}

/** (ours − reference) in points of 100 for the shown metrics; undefined where the reference lacks one. */
export function diffPoints(ours: MetricReport, reference: Record<string, number> | undefined): Partial<Record<ShownKey, number>> | undefined {
  if (!reference) return undefined;
  const d: Partial<Record<ShownKey, number>> = {};
  for (const [k, rk] of Object.entries(PEER_KEYS) as [ShownKey, string][]) {
    if (typeof reference[rk] === 'number') d[k] = 100 * (ours[k] - reference[rk]);
  }
  return d;
}

/** Our report under peers.json's key names. */
function upperKeys(m: MetricReport): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, rk] of Object.entries(PEER_KEYS)) out[rk] = m[k];
  return out;
}

/** Largest |difference| in points, 0 when there is none. */
export function maxAbsDiff(d: Partial<Record<ShownKey, number>> | undefined): number {
  return d ? Math.max(0, ...Object.values(d).map((x) => Math.abs(x as number))) : 0;
}

/** Facts about a split that can make two scorers of the same rankings disagree. */
export interface SplitFacts {
  testRows: number;
  /** Test rows with an empty label set (they count 0 in P, nDCG and PSP but stay in the mean). */
  testRowsWithoutLabels: number;
  /** Test label occurrences whose label has no training point (propensity from count 0). */
  testLabelsUnseenInTrain: number;
  /** Distinct such labels. */
  distinctTestLabelsUnseenInTrain: number;
}

export function splitFacts(train: Dataset, test: Dataset): SplitFacts {
  const trainCols = train.labels.cols;
  const counts = new Float64Array(Math.max(trainCols, test.labels.cols));
  const { indptr, indices } = train.labels;
  for (let p = 0; p < indptr[train.labels.rows]; p++) counts[indices[p]]++;
  let empty = 0;
  let unseen = 0;
  const unseenLabels = new Set<number>();
  const y = test.labels;
  for (let r = 0; r < y.rows; r++) {
    if (y.indptr[r] === y.indptr[r + 1]) empty++;
    for (let p = y.indptr[r]; p < y.indptr[r + 1]; p++) {
      if (counts[y.indices[p]] === 0) {
        unseen++;
        unseenLabels.add(y.indices[p]);
      }
    }
  }
  return { testRows: y.rows, testRowsWithoutLabels: empty, testLabelsUnseenInTrain: unseen, distinctTestLabelsUnseenInTrain: unseenLabels.size };
}

export interface PeerRow {
  method: string;
  file: string;
  metrics: MetricReport;
  /** peers.json's metrics of this method (its own scorer), if listed. */
  reference?: Record<string, number>;
  /** ours − peers.json, points of 100. */
  diffPoints?: Partial<Record<ShownKey, number>>;
  trainSeconds?: number;
  predictSeconds?: number;
  peakRssMb?: number;
  cmd?: string[];
  read: Omit<TopKFile, 'predicted' | 'k'>;
  /**
   * How far each alternative convention would move our figures (max |Δ| in points over the shown
   * metrics): how much agreeing with peers.json says about the scorer's conventions.
   */
  sensitivity: { convention: AlternativeScoring['convention']; maxAbsDiffPoints: number }[];
  /** Set when some |Δ| exceeds DIFF_TOLERANCE_POINTS: what explains it, or what was ruled out. */
  note?: string;
}

/** Labels of `truth` that have no training point removed. */
function withoutUnseenLabels(truth: Csr, trainLabels: Csr): Csr {
  const seen = new Uint8Array(Math.max(truth.cols, trainLabels.cols));
  for (let p = 0; p < trainLabels.indptr[trainLabels.rows]; p++) seen[trainLabels.indices[p]] = 1;
  const b = new CsrBuilder(false);
  for (let r = 0; r < truth.rows; r++) {
    for (let p = truth.indptr[r]; p < truth.indptr[r + 1]; p++) if (seen[truth.indices[p]]) b.push(truth.indices[p]);
    b.endRow();
  }
  return b.build(truth.cols);
}

/** Another scorer's possible convention, and the metrics of the same predictions under it. */
export interface AlternativeScoring {
  convention: 'rows-without-labels-left-out' | 'labels-unseen-in-train-removed';
  what: string;
  metrics: MetricReport;
}

/**
 * The same predictions scored under conventions another scorer might use where ours differs
 * (only those the split makes matter): test rows without labels left out of the mean; test
 * labels with no training point removed from the truth.
 */
export function alternativeScorings(predicted: Int32Array, k: number, train: Dataset, test: Dataset, facts = splitFacts(train, test)): AlternativeScoring[] {
  const out: AlternativeScoring[] = [];
  if (facts.testRowsWithoutLabels) {
    const keep: number[] = [];
    for (let r = 0; r < test.labels.rows; r++) if (test.labels.indptr[r + 1] > test.labels.indptr[r]) keep.push(r);
    const sub = new Int32Array(keep.length * k);
    keep.forEach((r, i) => {
      sub.set(predicted.subarray(r * k, r * k + k), i * k);
    });
    out.push({
      convention: 'rows-without-labels-left-out',
      what: `test rows without labels left out of the mean (${facts.testRowsWithoutLabels} such rows; we keep them, scoring 0)`,
      metrics: score(sub, k, selectRows(test.labels, Int32Array.from(keep)), train.labels),
    });
  }
  if (facts.testLabelsUnseenInTrain) {
    out.push({
      convention: 'labels-unseen-in-train-removed',
      what: `test labels with no training point removed from the truth (${facts.testLabelsUnseenInTrain} occurrences of ${facts.distinctTestLabelsUnseenInTrain} labels; we keep them: never predicted, but they count in nDCG's and PSP's ideal)`,
      metrics: score(predicted, k, withoutUnseenLabels(test.labels, train.labels), train.labels),
    });
  }
  return out;
}

const fmtDiff = (d: Partial<Record<ShownKey, number>> | undefined): string =>
  Object.entries(d ?? {})
    .map(([key, v]) => `${key} ${(v as number) >= 0 ? '+' : ''}${(v as number).toFixed(3)}`)
    .join(', ');

/**
 * Why our figures differ from `reference` (peers.json): names the first of `alternatives` that
 * reproduces `reference` within DIFF_TOLERANCE_POINTS; otherwise lists what was ruled out and the
 * facts of the split.
 */
export function explainDifference(ours: MetricReport, reference: Record<string, number>, alternatives: AlternativeScoring[], facts: SplitFacts): string {
  const ruledOut: string[] = [];
  for (const a of alternatives) {
    const d = diffPoints(a.metrics, reference);
    if (maxAbsDiff(d) <= DIFF_TOLERANCE_POINTS) return `peers.json's figures are reproduced (within ${DIFF_TOLERANCE_POINTS} points) when ${a.what}; ours − peers.json: ${fmtDiff(diffPoints(ours, reference))}`;
    ruledOut.push(`${a.what}: still ${fmtDiff(d)}`);
  }
  return (
    `not explained: ours − peers.json ${fmtDiff(diffPoints(ours, reference))}; ` +
    (ruledOut.length ? `ruled out: ${ruledOut.join('; ')}; ` : '') +
    `split facts: ${JSON.stringify(facts)}`
  );
}

/**
 * Every peer of `ds` scored with our metric code. `map`: labels.txt line → our id (JSONL sets);
 * omit it for XC sets, whose ids are ours.
 */
export async function peerRows(ds: string, train: Dataset, test: Dataset, peers: PeersJson | null, map?: Int32Array): Promise<PeerRow[]> {
  const rows: PeerRow[] = [];
  const facts = splitFacts(train, test);
  for (const method of peerMethods(ds)) {
    const file = join(PEERS_DIR, ds, `${method}.top10.txt`);
    const { predicted, k, ...read } = await readTopKFile(file, test.labels.rows, 10, map);
    const metrics = score(predicted, k, test.labels, train.labels);
    const ref = peers?.datasets[ds]?.methods[method];
    const d = diffPoints(metrics, ref?.metrics);
    const alternatives = alternativeScorings(predicted, k, train, test, facts);
    rows.push({
      method,
      file,
      metrics,
      reference: ref?.metrics,
      diffPoints: d,
      trainSeconds: ref?.train_seconds,
      predictSeconds: ref?.predict_seconds,
      peakRssMb: ref?.peak_rss_mb,
      cmd: ref?.cmd,
      read,
      sensitivity: alternatives.map((a) => ({ convention: a.convention, maxAbsDiffPoints: maxAbsDiff(diffPoints(a.metrics, upperKeys(metrics))) })),
      note: ref && maxAbsDiff(d) > DIFF_TOLERANCE_POINTS ? explainDifference(metrics, ref.metrics, alternatives, facts) : undefined,
    });
  }
  return rows;
}
