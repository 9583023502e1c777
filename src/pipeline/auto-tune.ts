/**
 * `--auto`: the job picks its own distillation settings. Each candidate trains a student on the
 * training rows outside a held-out slice and is scored by P@1 on that slice; the best one is the
 * job's configuration. The slice is fold 0 of the teacher's cross-fitting folds when it has them,
 * and the trials distil the fold-0 model, which never saw those rows, so the slice is truly held
 * out; without folds it is a seeded 10 % of the rows (which the teacher may have seen).
 * Candidates run in order of their measured promise, `concurrency` at a time (trial-pool.ts), until
 * the time budget would be exceeded. The family of candidates depends on whether the student can
 * start from the teacher's factors.
 */
import { dirname, join } from 'node:path';
import { selectRows } from '../core/data/csr.js';
import { datasetStats, type Dataset, type DatasetStats } from '../core/data/dataset.js';
import { CancelledError } from '../core/util/errors.js';
import { Rng } from '../core/util/rng.js';
import { studentShapeOf, type TrainConfig } from '../core/model/train-config.js';
import { foldOf, foldsFitData, readFoldsManifest, type FoldsManifest } from '../teacher/folds.js';
import { trainJobCost } from './job-cost.js';
import type { ProgressSink } from './progress.js';
import { MIN_ENERGY, teacherStartReach } from './teacher-init.js';

/**
 * Settings that turn --auto off when given (CLI flags or HTTP params): everything the search would
 * otherwise choose, and what shapes the model it chooses among. Not the seed, nor the levers of
 * speed (int8 mining, pools and re-mining per label set, the indexes' build lists and scalars, the
 * near-copies left out of the points index, the SIMD kernels, row-wise Adagrad, the teacher scored
 * from its weights, threads), which the trials share with the job.
 */
export const SETTINGS_THAT_TURN_AUTO_OFF = ['alpha', 'temperature', 'dim', 'tau', 'epochs', 'lr', 'hardNegatives', 'randomNegatives', 'inBatchNegatives', 'batchSize', 'poolSize', 'remineEvery', 'teacherWeightedNegatives', 'teacherInit', 'labelBias', 'teacherCalibration', 'crossFit', 'neighbours', 'neighbourWeight', 'voteTemperature'] as const;

/** A starting point and the candidates tried from it, most promising first. */
export interface AutoFamily {
  name: string;
  /** Settings every candidate of the family shares. */
  base: Partial<TrainConfig>;
  candidates: Partial<TrainConfig>[];
  /**
   * Candidate index → the candidate whose settings it varies in one respect (a refinement): it
   * counts only while that one leads the candidates that refine nothing, so it is not started once
   * another one beats it, stopped if that happens while it runs, and not counted if it happens after.
   */
  refines?: Readonly<Record<number, number>>;
  /**
   * Candidates that make a simpler model than the rest (no distillation, or no training): one of
   * them is chosen over a better-scoring other one unless that one wins by more than one standard
   * error of the paired difference on the held-out rows (preferSimpler).
   */
  simpler?: readonly number[];
}

/**
 * From the teacher's rank-d factorisation (Table "auto" in BENCHMARKS.md). A trained candidate
 * comes first: what is tried when the budget runs short matters. α 0.5 only: the α=1 candidates
 * (AUTO_TEACHER_START_DROPPED) ranked first on none of the held-out slices of Bibtex, Corel5k,
 * Delicious and debtags, and cost a third of the search (BENCHMARKS.md section 0, 2026-12-06).
 */
export const AUTO_TEACHER_START: AutoFamily = {
  name: 'teacher start',
  base: { dim: 256, lr: 0.02, epochs: 5, teacherInit: true, labelBias: true },
  candidates: [
    { alpha: 0.5, temperature: 1 },
    { epochs: 0 }, // the teacher's rank-d factorisation alone
    { alpha: 0.5, temperature: 2 },
    { alpha: 0.5, temperature: 1, hardNegatives: 32, randomNegatives: 32 },
  ],
  // the negative counts are tuned on α 0.5 T 1 only while it leads: on debtags and Corel5k epochs 0
  // beat it, and on Delicious T 2, and this candidate won none of the four held-out slices (BENCHMARKS.md 0)
  refines: { 3: 0 },
  simpler: [1],
};

/** Teacher-start settings the search tried until 2026-12-06 and no longer does; the quality bench's grid keeps them. */
export const AUTO_TEACHER_START_DROPPED: Partial<TrainConfig>[] = [
  { alpha: 1, temperature: 1 },
  { alpha: 1, temperature: 2 },
  { alpha: 1, temperature: 1, hardNegatives: 32, randomNegatives: 32 },
];

/**
 * From a random student, where the teacher's factors hold too little of its weights (apt-files:
 * 10.3 % at d=256) or the teacher is not linear: the manual defaults' learning rate and epochs
 * (a d=256 student at lr 0.02 for 5 epochs reached held-out P@1 4.5 on apt-files) at d=128. α=0
 * on apt-files: P@1 59.65 at d=64, 73.17 at d=256 (an older job); 82.08–82.21 at d=128 against
 * 81.60–81.76 at d=256 in 0.77× the job's time. On the four small sets d=128 was within 0.6 P@1 of
 * d=256 either way for α=0 and α 0.5 T 1, 1.2–1.45× faster (bench/random-start-dim.ts; BENCHMARKS.md 0).
 */
export const ALPHA0_RANDOM_START: Partial<TrainConfig> = { alpha: 0, lr: 0.25, epochs: 10 };

export const AUTO_RANDOM_START: AutoFamily = {
  name: 'random start',
  base: { dim: 128, lr: 0.1, epochs: 20, teacherInit: false, labelBias: true },
  candidates: [
    // α=0 at 2.5× the rate for half the epochs: the same P@1 or better on all five sets in 0.55–0.6×
    // the training time; α=1 lost 1.0–1.6 P@1 so on Bibtex, so distillation keeps the base (BENCHMARKS.md 0)
    ALPHA0_RANDOM_START,
    { alpha: 0.5, temperature: 1 },
    { alpha: 0.5, temperature: 2 },
    { alpha: 1, temperature: 1 },
  ],
  // apt-files: α 0.5 T 1 led α=0 by 3 of 1,985 held-out rows (78.09 against 77.93) and lost 1.6–2 P@1 on the
  // test split (79.39 against 81.0–81.6), in 2.6× the trial's time (BENCHMARKS.md 0, 2026-12-06 11:10)
  simpler: [0],
};

/**
 * The random start's α 1 T 1, whole (its family's base with it): the best grid row on Bibtex and Delicious, which the
 * teacher start's search does not try. Tried beside the teacher start's candidates when the search extrapolates
 * (autoTune's `extrapolate`): at a trial's size the held-out slice ranks it under them, and the test split with every
 * row over them (bench/results/probe-s39-random-start-held-out.md).
 */
export const AUTO_RANDOM_START_ALPHA1: Partial<TrainConfig> = { ...AUTO_RANDOM_START.base, alpha: 1, temperature: 1 };

/**
 * Where the extrapolating search puts AUTO_RANDOM_START_ALPHA1 among the teacher start's candidates: after the trained
 * one and the untrained one, which a short budget should try first, and before the rest. It is the longest trial (20
 * epochs, at two sizes); started early it ends while the others run, and where it leads, the negatives' refinement of
 * α 0.5 T 1 is then not started or stopped (AutoFamily.refines) instead of running to the end for nothing.
 */
const RANDOM_START_ALPHA1_AT = 2;

/** `family` with `candidate` inserted at index `at`, its refinements and simpler candidates renumbered. */
export function withCandidateAt(family: AutoFamily, candidate: Partial<TrainConfig>, at: number): AutoFamily {
  const moved = (i: number): number => (i >= at ? i + 1 : i);
  const candidates = [...family.candidates.slice(0, at), candidate, ...family.candidates.slice(at)];
  const refines = family.refines ? Object.fromEntries(Object.entries(family.refines).map(([i, base]) => [moved(Number(i)), moved(base)])) : undefined;
  return { ...family, candidates, ...(refines ? { refines } : {}), ...(family.simpler ? { simpler: family.simpler.map(moved) } : {}) };
}

/**
 * Up to this many training rows the search extrapolates by default (autoTune's `extrapolate`; --no-auto-extrapolate
 * turns it off, --auto-extrapolate on at any size). There its trials take seconds, and a third of the rows held out is
 * what ranks a data-hungry candidate under the rest: on Bibtex (4,880 rows) it chose the random start's α 1 T 1 on five
 * seeds of five, P@1 65.18 → 66.36 (the grid's best 66.04; the best peer 63.78), its job 5.8 → 13.0 s (nxc-plt: 1.2 s);
 * on Corel5k (4,500) 41.16 → 41.12 (the best peer 40.00), 4.0 → 6.5 s (nxc-plt: 0.94 s). Above it the cost grows with the rows and bought nothing measurable: Delicious (12,920) chose the same, 8.4 → 17.7 s; debtags
 * (17,901) +0.06 P@1 but −0.97 P@5, 17.6 → 66.1 s (BENCHMARKS.md section 0).
 */
export const AUTO_EXTRAPOLATE_MAX_ROWS = 10_000;

/** Whether a search extrapolates when not told: up to AUTO_EXTRAPOLATE_MAX_ROWS rows, and not with a text teacher (its trials score through a transformer, at a cost not measured with it). */
export function extrapolatesByDefault(rows: number, textTeacher: boolean): boolean {
  return rows <= AUTO_EXTRAPOLATE_MAX_ROWS && !textTeacher;
}

/**
 * P@1 extrapolated log-linearly in the number of rows: measured on `small` and on `trial` rows, predicted for `all`
 * (with three folds a third, two thirds and every row: the trial's gain over the third times log 1.5 / log 2).
 */
export function extrapolatedP1(atSmall: number, atTrial: number, rows: { small: number; trial: number; all: number }): number {
  return atTrial + ((atTrial - atSmall) * Math.log(rows.all / rows.trial)) / Math.log(rows.trial / rows.small);
}

/** The least time budget the search gets by default, seconds (defaultAutoBudget). */
export const AUTO_MIN_BUDGET_SECONDS = 60;
/**
 * The default budget with a text teacher, seconds: the cost model does not know a transformer's
 * scoring, which is most of such a search (debtags: 487 s of trials, BENCHMARKS.md T).
 */
export const AUTO_TEXT_TEACHER_BUDGET_SECONDS = 600;

/**
 * The search's default time budget: as long as the job at the α=0 candidate's settings is
 * estimated to take on this data (job-cost.ts), and at least AUTO_MIN_BUDGET_SECONDS. A search
 * thus at most about doubles a job. On apt-files one α 0.5 trial took 299 s against the α=0 job's
 * 150 s, and the search chose α=0 after 427 s (BENCHMARKS.md 0); the small sets' searches
 * take 2.5–16.5 s and keep every candidate (bench/results/auto-jobs-s36-small*.json). With a text teacher, AUTO_TEXT_TEACHER_BUDGET_SECONDS.
 */
export function defaultAutoBudget(stats: DatasetStats, base: TrainConfig, inputDim: number, textTeacher = false): number {
  if (textTeacher) return AUTO_TEXT_TEACHER_BUDGET_SECONDS;
  const alpha0 = { ...base, ...AUTO_RANDOM_START.base, ...ALPHA0_RANDOM_START };
  return Math.max(AUTO_MIN_BUDGET_SECONDS, Math.ceil(trainJobCost({ stats, config: alpha0, inputDim, teacher: false }).seconds));
}

/** A trial's seconds as estimated before it runs: a job on the trial rows that builds no index (trials search exactly). */
function trialEstimate(stats: DatasetStats, config: TrainConfig, inputDim: number): number {
  return trainJobCost({ stats, config: { ...config, neighbours: 0 }, inputDim, teacher: config.alpha > 0 && config.epochs > 0 }).seconds;
}
/** Held-out rows scored per trial (a stride sample of the slice). */
const HELD_OUT_MAX = 2000;

export interface AutoTrial {
  settings: Partial<TrainConfig>;
  /** The neighbour blend the trial chose on the held-out rows. */
  blend?: Partial<TrainConfig>;
  heldOutP1: number;
  /** With `extrapolate`: held-out P@1 trained on fold 1's rows (a third with three folds) and on a trial's, of which heldOutP1 is the extrapolation. */
  sizes?: { small: number; trial: number };
  seconds: number;
  /** Teacher scores the trial paid for (the trials share their scores: the same rows, the same teacher). */
  pairsScored?: number;
}

/** A simpler candidate chosen over the best-scoring one (AutoFamily.simpler). */
export interface SimplerChoice {
  over: Partial<TrainConfig>;
  /** Held-out P@1 of the best-scoring candidate minus the simpler one's. */
  difference: number;
  /** One standard error of that difference over the paired held-out rows. */
  standardError: number;
}

export interface AutoTuneReport {
  /** How the held-out slice was cut. */
  heldOut: string;
  heldOutRows: number;
  budgetSeconds: number;
  trials: AutoTrial[];
  /** The family searched: whether the student starts from the teacher's factors. */
  family: string;
  /** Share of the teacher's weight energy the teacher-start rank holds (null: weights not readable, or bounded by teacherStartEnergyAtMost). */
  teacherStartEnergy: number | null;
  /** A bound on that share, when it was low enough that the teacher was not factored (energyShareBound). */
  teacherStartEnergyAtMost?: number;
  /** Candidates not tried for lack of budget. */
  skipped: number;
  /** Refinements that did not count, because the candidate they refine was beaten: not started, stopped, or finished too late to matter. */
  notCounted: { settings: Partial<TrainConfig>; reason: string }[];
  chosen: Partial<TrainConfig>;
  /** When the choice is a simpler candidate within one standard error of the best-scoring one. */
  simplerChoice?: SimplerChoice;
  /**
   * When no trial ran: only the first candidate fit the budget and it needs no teacher, so the job
   * trained it on every row but the held-out ones and chose the neighbour blend on those itself
   * (blend-by-job.ts). `p1`: the chosen blend's P@1 there, once the job has trained.
   */
  blendByJob?: { heldOutRows: number; p1?: number; tried?: { neighbourWeight: number; voteTemperature: number; p1: number }[] };
  seconds: number;
}

/**
 * Runs one trial: a student trained on `train` with `teacherPath`, P@1 on `heldOut` through its
 * indexes, with the neighbour blend it chose there. `rows`: which rows of the job's training data
 * the two slices are (a text teacher scores their texts). Once `signal` aborts, the trial stops at
 * its next batch and rejects with a CancelledError.
 */
export type TrialRunner = (config: TrainConfig, train: Dataset, heldOut: Dataset, teacherPath: string, rows: TrialRows, signal?: AbortSignal) => Promise<TrialOutcome>;

export interface TrialOutcome {
  p1: number;
  /** Per held-out row, 1 where the trial's top label is a true one. */
  hits?: Uint8Array;
  blend?: Partial<TrainConfig>;
  stageSeconds?: Partial<Record<string, number>>;
  pairsScored?: number;
}

export interface TrialRows {
  train: readonly number[];
  heldOut: readonly number[];
}

export function subset(d: Dataset, rows: readonly number[], what: string): Dataset {
  return { ...d, features: selectRows(d.features, rows), labels: { ...selectRows(d.labels, rows), cols: d.labels.cols }, source: `${d.source} (${what})` };
}

/** The held-out rows and the teacher that never saw them. */
async function heldOutSplit(train: Dataset, teacherPath: string, seed: number): Promise<{ held: Set<number>; teacher: string; how: string; fold?: (row: number) => number }> {
  const n = train.features.rows;
  // folds cut from other data (the teacher reused on another file) hold no row out of the fold-0 model
  let manifest: FoldsManifest | null = null;
  try {
    manifest = await readFoldsManifest(teacherPath);
  } catch {
    manifest = null;
  }
  if (manifest && !foldsFitData(manifest, train.labels)) manifest = null;
  if (manifest && manifest.files.length === manifest.folds) {
    const { folds, seed: foldSeed } = manifest;
    const fold = (r: number): number => foldOf(r, folds, foldSeed);
    const held = new Set<number>();
    for (let r = 0; r < n; r++) if (fold(r) === 0) held.add(r);
    return { held, teacher: join(dirname(teacherPath), manifest.files[0]), how: `fold 0 of the teacher's ${folds} cross-fitting folds, distilling the fold-0 model`, fold };
  }
  const rng = new Rng(seed ^ 0xa070);
  const held = new Set<number>();
  for (let r = 0; r < n; r++) if (rng.next() < 0.1) held.add(r);
  return { held, teacher: teacherPath, how: 'a seeded 10 % of the training rows (the teacher has no folds: it may have seen them)' };
}

export async function autoTune(
  train: Dataset,
  teacherPath: string,
  base: TrainConfig,
  runTrial: TrialRunner,
  opts: {
    /** @defaultValue defaultAutoBudget of the data, with `textTeacher` */
    budgetSeconds?: number;
    /** The teacher is a transformer over the rows' texts (the default budget is then fixed). @defaultValue false */
    textTeacher?: boolean;
    sink?: ProgressSink;
    concurrency?: number;
    /** Called with the slices once they are cut, before the family is chosen (the fold-0 model factored). */
    onSlices?: (train: Dataset, heldOut: Dataset, teacherPath: string, rows: TrialRows) => void;
    /** Awaited once the slices are cut and the family chosen, before the first trial (the trial threads' start). */
    beforeTrials?: () => Promise<void>;
    /**
     * Run once, by the first lane left without a candidate, while the other lanes' last trials
     * run: work for the job after the search, on a core those trials leave free.
     */
    afterLastTrial?: (family: AutoFamily) => Promise<void>;
    /**
     * Runs the first candidate's trial instead of `runTrial` when the second cannot start beside it
     * within the budget: one trial on all the job's threads rather than one lane's.
     */
    runAlone?: TrialRunner;
    /**
     * When the search can run only its first candidate and that candidate needs no teacher (α=0
     * from a random start): called with the slices' rows instead of any trial, and the report says
     * blendByJob. The job then trains on every row but the held-out ones and chooses the neighbour
     * blend on those itself: the trial would only have chosen that blend, on a student of fewer rows.
     */
    blendByJob?: (rows: TrialRows) => void;
    /** Every candidate run and counted: the family's refinements as candidates of their own. @defaultValue false */
    everyCandidate?: boolean;
    /** A simpler candidate within one standard error of the best-scoring one is chosen (AutoFamily.simpler). @defaultValue true */
    preferSimpler?: boolean;
    /**
     * Each candidate also trained on fold 1 of the teacher's folds (a third of the rows with three) by `runTrial`,
     * and ranked by its P@1 extrapolated to every row (extrapolatedP1); the teacher start also tries
     * AUTO_RANDOM_START_ALPHA1. Only with three folds or more, fold 0 held out.
     */
    extrapolate?: {
      runTrial: TrialRunner;
      /** Not asked for but the default at this size (extrapolatesByDefault): said so in the log, and nothing logged when the teacher has no folds for it. */
      byDefault?: boolean;
    };
  } = {},
): Promise<AutoTuneReport> {
  const started = performance.now();
  const budgetSeconds = opts.budgetSeconds ?? defaultAutoBudget(datasetStats(train), base, train.features.cols, opts.textTeacher);
  const { held, teacher, how, fold } = await heldOutSplit(train, teacherPath, base.seed);
  const trainRows: number[] = [];
  const heldRows: number[] = [];
  for (let r = 0; r < train.features.rows; r++) (held.has(r) ? heldRows : trainRows).push(r);
  const step = Math.max(1, Math.ceil(heldRows.length / HELD_OUT_MAX));
  const scored = heldRows.filter((_, i) => i % step === 0);
  const trialTrain = subset(train, trainRows, 'auto-tune training rows');
  const trialHeldOut = subset(train, scored, 'auto-tune held-out rows');
  // a candidate starts when its expected seconds fit the budget left: its estimate (job-cost.ts),
  // scaled by the largest measured / estimated ratio of the trained trials so far (an untrained
  // one's factorisation is not in the estimate)
  const trialStats = datasetStats(trialTrain);
  const estimateOf = (config: TrainConfig): number => trialEstimate(trialStats, config, train.features.cols);
  let scale: number | null = null;
  const configIn = (f: AutoFamily, i: number): TrainConfig => ({ ...base, ...f.base, ...f.candidates[i] });
  /** Why candidate i of family f would pass the budget if started now, or null if it fits. */
  const overBudgetIn = (f: AutoFamily, i: number): string | null => {
    const elapsed = (performance.now() - started) / 1000;
    const expected = (scale ?? 1) * estimateOf(configIn(f, i));
    return elapsed + expected > budgetSeconds ? `expected ${expected.toFixed(1)} s after ${elapsed.toFixed(1)} s would pass the budget of ${budgetSeconds} s` : null;
  };
  /** Whether the job can stand in for f's search (opts.blendByJob): its first candidate needs no teacher and no second one fits. */
  const jobStandsIn = (f: AutoFamily): boolean =>
    opts.blendByJob !== undefined && f.candidates.length > 0 && teacherFree(configIn(f, 0)) && configIn(f, 0).neighbours > 0 && (f.candidates.length === 1 || overBudgetIn(f, 1) !== null);
  /** Whether f's first trial would run alone on the job's threads (opts.runAlone): the second candidate cannot start beside it. */
  const runsAloneIn = (f: AutoFamily): boolean => opts.runAlone !== undefined && (opts.concurrency ?? 1) > 1 && f.candidates.length > 1 && overBudgetIn(f, 1) !== null;
  // Both are decided before the trial threads get work, which either ends: the threads would first
  // mine and score a first pool for nothing (TrialPool.close waits for that work: ending a thread
  // inside ONNX Runtime took the process down). When either may apply, the threads get the slices
  // only once the family is known, and only if they will run trials.
  const mayStandIn = jobStandsIn(AUTO_RANDOM_START);
  const deferSlices = mayStandIn || runsAloneIn(AUTO_RANDOM_START) || runsAloneIn(AUTO_TEACHER_START);
  if (!deferSlices) opts.onSlices?.(trialTrain, trialHeldOut, teacher, { train: trainRows, heldOut: scored });
  const { energy, atMost } = await teacherStartReach(teacher, studentShapeOf({ ...base, ...AUTO_TEACHER_START.base }, train.features.cols, train.labels.cols), base.seed);
  // Searching the random start after the teacher start changed no choice on Bibtex or Delicious
  // (the held-out slice ranks it lower) and cost 65 s and 136 s of trials (BENCHMARKS.md)
  const chosenFamily = energy !== null && energy >= MIN_ENERGY ? AUTO_TEACHER_START : AUTO_RANDOM_START;
  // two sizes need a smaller set of rows that is a fold of its own: fold 1 of the trial's rows (fold 0 is held out;
  // with three folds, a third); with two folds it is every trial row, and there is no second size
  const thirdRows = opts.extrapolate && fold ? trainRows.filter((r) => fold(r) === 1) : null;
  const extrapolating = thirdRows !== null && thirdRows.length > 0 && thirdRows.length < trainRows.length;
  const family = extrapolating && chosenFamily === AUTO_TEACHER_START ? withCandidateAt(chosenFamily, AUTO_RANDOM_START_ALPHA1, RANDOM_START_ALPHA1_AT) : chosenFamily;
  const thirdTrain = extrapolating ? subset(train, thirdRows!, 'auto-tune third of the rows') : null;
  const share =
    atMost !== undefined
      ? `the teacher-start rank holds at most ${(100 * atMost).toFixed(1)} % of the teacher's weight energy: a bound, so the teacher was not factored`
      : energy === null
        ? "the teacher's weights are not readable"
        : `the teacher-start rank holds ${(100 * energy).toFixed(1)} % of the teacher's weight energy`;
  opts.sink?.log(`auto: ${family.name} (${share})`);
  const lanes = opts.concurrency && opts.concurrency > 1 ? `, ${opts.concurrency} at a time` : '';
  opts.sink?.log(`auto: ${family.candidates.length} candidates on ${trainRows.length} rows, P@1 on ${scored.length} held-out rows (${how}), budget ${budgetSeconds} s${lanes}`);
  if (extrapolating) opts.sink?.log(`auto: each candidate also on ${thirdRows!.length} rows (fold 1), its P@1 extrapolated to every row${opts.extrapolate!.byDefault ? ` (the default up to ${AUTO_EXTRAPOLATE_MAX_ROWS} training rows; --no-auto-extrapolate turns it off)` : ''}`);
  else if (opts.extrapolate && !opts.extrapolate.byDefault) opts.sink?.log("auto: no extrapolation: it needs the teacher's cross-fitting folds (three or more), fold 0 held out");
  if (mayStandIn && family === AUTO_RANDOM_START) {
    opts.sink?.log(`auto: only the first candidate fits the budget and it needs no teacher: no trial, the job trains it without the ${scored.length} held-out rows and chooses the neighbour blend on them`);
    opts.blendByJob!({ train: trainRows, heldOut: scored });
    const chosen = { ...family.base, ...family.candidates[0] };
    opts.sink?.log(`auto: chose ${JSON.stringify(chosen)}, the blend left to the job`);
    return { heldOut: how, heldOutRows: scored.length, budgetSeconds, family: family.name, teacherStartEnergy: energy, ...(atMost !== undefined ? { teacherStartEnergyAtMost: atMost } : {}), trials: [], skipped: family.candidates.length - 1, notCounted: [], chosen, blendByJob: { heldOutRows: scored.length }, seconds: (performance.now() - started) / 1000 };
  }
  const alone = runsAloneIn(family);
  if (deferSlices && !alone) opts.onSlices?.(trialTrain, trialHeldOut, teacher, { train: trainRows, heldOut: scored });
  let next = 0;
  let budgetOut = false;
  const done: (AutoTrial | undefined)[] = [];
  const notCounted: AutoTuneReport['notCounted'] = [];
  const running = new Map<number, AbortController>(); // refinements in flight
  const hitsOf = new Map<number, Uint8Array>(); // kept out of the report: one entry per held-out row
  const refined = (i: number): number | undefined => (opts.everyCandidate ? undefined : family.refines?.[i]);
  /** Why refinement i no longer counts (its base was beaten: by the leader, named), or null while it may. */
  const beaten = (i: number): string | null => {
    const base = done[refined(i)!];
    let better: AutoTrial | undefined;
    for (let j = 0; j < done.length; j++) {
      const t = done[j];
      if (base && t && refined(j) === undefined && t.heldOutP1 > (better ?? base).heldOutP1) better = t;
    }
    return base && better ? `${JSON.stringify(base.settings)} (${pct(base.heldOutP1)}) is beaten by ${JSON.stringify(better.settings)} (${pct(better.heldOutP1)})` : null;
  };
  let afterLast: Promise<void> | null = null;
  const configOf = (i: number): TrainConfig => configIn(family, i);
  const overBudget = (i: number): string | null => overBudgetIn(family, i);
  let runner = runTrial;
  // each lane takes the next candidate until none is left or the budget would be exceeded
  const lane = async (): Promise<void> => {
    while (next < family.candidates.length && !budgetOut) {
      const settings = family.candidates[next];
      const config = configOf(next);
      const over = next > 0 ? overBudget(next) : null;
      if (over) {
        opts.sink?.log(`auto: ${family.name} ${JSON.stringify(settings)} not run: ${over}`);
        budgetOut = true;
        break;
      }
      const i = next++;
      const refinement = refined(i) !== undefined;
      const why = refinement ? beaten(i) : null;
      if (why) {
        notCounted.push({ settings, reason: `not run: ${why}` });
        opts.sink?.log(`auto: ${family.name} ${JSON.stringify(settings)} not run: ${why}`);
        continue;
      }
      const t0 = performance.now();
      const stop = refinement ? new AbortController() : null;
      if (stop) running.set(i, stop);
      let outcome: TrialOutcome;
      let small: TrialOutcome | null = null;
      try {
        outcome = await runner(config, trialTrain, trialHeldOut, teacher, { train: trainRows, heldOut: scored }, stop?.signal);
        // the same candidate on fold 1's rows, for the extrapolation (in the job's thread), stopped by the same signal
        if (extrapolating) small = await opts.extrapolate!.runTrial(config, thirdTrain!, trialHeldOut, teacher, { train: thirdRows!, heldOut: scored }, stop?.signal);
      } catch (e) {
        if (!(stop?.signal.aborted && e instanceof CancelledError)) throw e;
        const reason = `stopped after ${((performance.now() - t0) / 1000).toFixed(1)} s: ${stop.signal.reason}`;
        notCounted.push({ settings, reason });
        opts.sink?.log(`auto: ${family.name} ${JSON.stringify(settings)} ${reason}`);
        continue;
      } finally {
        running.delete(i);
      }
      const { blend, stageSeconds, pairsScored } = outcome;
      const sizes = small ? { small: small.p1, trial: outcome.p1 } : undefined;
      const heldOutP1 = small ? extrapolatedP1(small.p1, outcome.p1, { small: thirdRows!.length, trial: trainRows.length, all: train.features.rows }) : outcome.p1;
      if (outcome.hits) hitsOf.set(i, outcome.hits);
      const seconds = (performance.now() - t0) / 1000;
      if (config.epochs > 0) scale = Math.max(scale ?? 0, seconds / estimateOf(config));
      done[i] = { settings, ...(blend ? { blend } : {}), heldOutP1, ...(sizes ? { sizes } : {}), seconds, ...(pairsScored !== undefined ? { pairsScored } : {}) };
      const atSizes = sizes ? ` (${pct(sizes.small)} on ${thirdRows!.length} rows, ${pct(sizes.trial)} on ${trainRows.length}, extrapolated)` : '';
      opts.sink?.log(`auto: ${family.name} ${JSON.stringify(settings)}${blend ? ` with ${JSON.stringify(blend)}` : ''} → held-out P@1 ${pct(heldOutP1)}${atSizes} (${seconds.toFixed(1)} s${stagesText(stageSeconds)})`);
      for (const [j, c] of running) {
        const now = beaten(j);
        if (now) c.abort(now);
      }
    }
    afterLast ??= opts.afterLastTrial?.(chosenFamily) ?? null;
    await afterLast;
  };
  await opts.beforeTrials?.();
  let concurrency = Math.max(1, opts.concurrency ?? 1);
  // when the second candidate cannot start beside the first, the first runs alone on every thread
  if (alone && opts.runAlone) {
    opts.sink?.log(`auto: only the first candidate fits the budget beside it: its trial runs alone, on the job's threads`);
    runner = opts.runAlone;
    concurrency = 1;
  }
  await Promise.all(Array.from({ length: concurrency }, lane));
  // a refinement that finished before its base was beaten does not count either: the rule, not the timing, decides
  for (let i = 0; i < done.length; i++) {
    const why = done[i] && refined(i) !== undefined ? beaten(i) : null;
    if (!why) continue;
    notCounted.push({ settings: done[i]!.settings, reason: `held-out P@1 ${pct(done[i]!.heldOutP1)} not counted: ${why}` });
    done[i] = undefined;
  }
  const trials = done.filter((t): t is AutoTrial => t !== undefined);
  let bestAt = done.findIndex((t) => t !== undefined);
  for (let i = 0; i < done.length; i++) if (done[i] && done[i]!.heldOutP1 > done[bestAt]!.heldOutP1) bestAt = i;
  const simpler = opts.preferSimpler === false ? null : simplerWithin(done, hitsOf, bestAt, family.simpler ?? []);
  const best = done[simpler?.at ?? bestAt]!;
  if (simpler) opts.sink?.log(`auto: ${JSON.stringify(best.settings)} (${pct(best.heldOutP1)}) chosen over ${JSON.stringify(done[bestAt]!.settings)} (${pct(done[bestAt]!.heldOutP1)}): a simpler model, within one standard error (${pct(simpler.choice.standardError)}) of the paired held-out rows`);
  const chosen = { ...family.base, ...best.settings, ...best.blend };
  opts.sink?.log(`auto: chose ${JSON.stringify(chosen)}`);
  return { heldOut: how, heldOutRows: scored.length, budgetSeconds, family: family.name, teacherStartEnergy: energy, ...(atMost !== undefined ? { teacherStartEnergyAtMost: atMost } : {}), trials, skipped: family.candidates.length - trials.length - notCounted.length, notCounted, chosen, ...(simpler ? { simplerChoice: simpler.choice } : {}), seconds: (performance.now() - started) / 1000 };
}

const pct = (x: number): string => (100 * x).toFixed(2);

/** A candidate whose job reads nothing from the teacher: no distillation, no teacher start, no teacher-weighted sampling. */
export function teacherFree(config: TrainConfig): boolean {
  return config.alpha === 0 && !config.teacherInit && !config.teacherWeightedNegatives;
}

/**
 * The best-scoring simpler candidate, when the best-scoring candidate overall is not simpler and
 * beats it by less than one standard error of their paired difference (the one-standard-error
 * rule of model selection, over the same held-out rows: √(discordant rows) / rows, McNemar's).
 */
export function simplerWithin(done: readonly (AutoTrial | undefined)[], hitsOf: ReadonlyMap<number, Uint8Array>, bestAt: number, simpler: readonly number[]): { at: number; choice: SimplerChoice } | null {
  if (simpler.includes(bestAt)) return null;
  let at = -1;
  for (const i of simpler) if (done[i] && (at < 0 || done[i]!.heldOutP1 > done[at]!.heldOutP1)) at = i;
  const a = hitsOf.get(bestAt);
  const b = hitsOf.get(at);
  if (at < 0 || !a || !b || a.length !== b.length || a.length === 0) return null;
  let discordant = 0;
  let lead = 0; // rows only the best has right, minus rows only the simpler one has
  for (let r = 0; r < a.length; r++) {
    if (a[r] === b[r]) continue;
    discordant++;
    lead += a[r] - b[r];
  }
  // compared in rows, where it is exact; extrapolated trials (their two sizes): by their held-out P@1, an
  // extrapolation, against the rows' standard error
  const byScores = done[bestAt]!.sizes !== undefined;
  const difference = byScores ? done[bestAt]!.heldOutP1 - done[at]!.heldOutP1 : lead / a.length;
  if (byScores ? difference > Math.sqrt(discordant) / a.length : lead > Math.sqrt(discordant)) return null;
  return { at, choice: { over: done[bestAt]!.settings, difference, standardError: Math.sqrt(discordant) / a.length } };
}

/** ": preparing 0.1, training 1.2, …": where a trial's seconds went (stages of 0.05 s and more). */
function stagesText(stageSeconds: Partial<Record<string, number>> | undefined): string {
  const parts = Object.entries(stageSeconds ?? {}).filter(([, s]) => (s ?? 0) >= 0.05).map(([k, s]) => `${k} ${(s ?? 0).toFixed(1)}`);
  return parts.length ? `: ${parts.join(', ')}` : '';
}

/** The configuration an auto job runs with once the search chose. */
export function autoConfig(base: TrainConfig, report: AutoTuneReport): TrainConfig {
  return { ...base, ...report.chosen };
}

