/**
 * --auto's refinements (AutoFamily.refines): the negatives candidate counts only while the
 * candidate it varies leads. The search's rule is checked with trials that finish in a chosen order
 * (the orders two real lanes produce only by chance: a runner that answers each candidate with a
 * set P@1 after a set delay, and stops at its abort signal); the stop itself with a real TrialPool.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatasetStats } from '../src/core/data/dataset.js';
import { DEFAULT_TRAIN_CONFIG, type TrainConfig } from '../src/core/model/train-config.js';
import { CancelledError } from '../src/core/util/errors.js';
import { AUTO_MIN_BUDGET_SECONDS, AUTO_RANDOM_START, AUTO_TEXT_TEACHER_BUDGET_SECONDS, AUTO_TEACHER_START, autoTune, defaultAutoBudget, simplerWithin, type AutoTrial, type TrialRows, type TrialRunner } from '../src/pipeline/auto-tune.js';
import { trainJobCost } from '../src/pipeline/job-cost.js';
import { silentProgress } from '../src/pipeline/progress.js';
import { TrialPool } from '../src/pipeline/trial-pool.js';
import { answerFor, syntheticSearch } from './support/auto-search.js';
import { exportSparseLinearOnnx } from '../src/teacher/sparse-linear-onnx.js';

const { model, rows } = syntheticSearch(5);
const train = rows(200);
const config: TrainConfig = { ...DEFAULT_TRAIN_CONFIG, poolSize: 16, neighbours: 0 };
const [T1, E0, T2, NEG] = AUTO_TEACHER_START.candidates;

/** Candidate → [held-out P@1, milliseconds]: answered after the delay, or a CancelledError once `signal` aborts. */
function scripted(answers: [Partial<TrainConfig>, number, number][], started: string[]): TrialRunner {
  return (cfg, _train, _heldOut, _teacher, _rows, signal) => {
    const [settings, p1, ms] = answerFor(answers, cfg, config.hardNegatives);
    started.push(JSON.stringify(settings));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => resolve({ p1 }), ms);
      signal?.addEventListener('abort', () => {
        clearTimeout(timer);
        reject(new CancelledError('stopped'));
      });
    });
  };
}

describe("--auto's refinements", () => {
  let dir: string;
  let teacherPath: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'distilxr-refine-'));
    teacherPath = join(dir, 'teacher.onnx');
    await writeFile(teacherPath, exportSparseLinearOnnx(model));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));
  const search = (answers: [Partial<TrainConfig>, number, number][], concurrency: number, everyCandidate = false) => {
    const started: string[] = [];
    return autoTune(train, teacherPath, config, scripted(answers, started), { concurrency, everyCandidate }).then((report) => ({ report, started }));
  };

  it('does not start the negatives candidate once epochs 0 beat α 0.5 T 1 (debtags, Corel5k)', async () => {
    const { report, started } = await search([[T1, 0.8385, 5], [E0, 0.843, 1], [T2, 0.8415, 5], [NEG, 0.9, 5]], 1);
    expect(report.family).toBe('teacher start');
    expect(started).not.toContain(JSON.stringify(NEG));
    expect(report.notCounted).toEqual([{ settings: NEG, reason: expect.stringMatching(/^not run: .*"temperature":1.* \(83\.85\) is beaten by \{"epochs":0\} \(84\.30\)/) }]);
    expect(report.trials.map((t) => t.settings)).toEqual([T1, E0, T2]);
    expect(report.skipped).toBe(0);
    expect(report.chosen).toMatchObject(E0);
  });

  it('runs and counts it anyway with everyCandidate (--auto-every-candidate)', async () => {
    const { report, started } = await search([[T1, 0.8385, 5], [E0, 0.843, 1], [T2, 0.8415, 5], [NEG, 0.9, 5]], 2, true);
    expect(started).toContain(JSON.stringify(NEG));
    expect(report.notCounted).toEqual([]);
    expect(report.chosen).toMatchObject(NEG);
  });

  it('stops it when T 2 beats T 1 while it runs, and so never chooses it (Delicious)', async () => {
    // lane A: T 1 (100 ms), then the negatives (2 s); lane B: epochs 0, then T 2, done at ~160 ms
    const { report, started } = await search([[T1, 0.7212, 100], [E0, 0.7065, 10], [T2, 0.7226, 150], [NEG, 0.9, 2000]], 2);
    expect(started).toContain(JSON.stringify(NEG));
    expect(report.notCounted).toEqual([{ settings: NEG, reason: expect.stringMatching(/^stopped after \d+\.\d s: .* is beaten by .*"temperature":2.* \(72\.26\)/) }]);
    expect(report.chosen).toMatchObject(T2);
  });

  it('does not count it when it finished before T 1 was beaten: the rule decides, not the timing', async () => {
    const { report } = await search([[T1, 0.7212, 20], [E0, 0.7065, 10], [T2, 0.7226, 300], [NEG, 0.9, 20]], 2);
    expect(report.notCounted).toEqual([{ settings: NEG, reason: expect.stringMatching(/^held-out P@1 90\.00 not counted: /) }]);
    expect(report.trials.map((t) => t.settings)).toEqual([T1, E0, T2]);
    expect(report.chosen).toMatchObject(T2);
  });

  it('counts it, and may choose it, while α 0.5 T 1 leads (Bibtex)', async () => {
    for (const lanes of [1, 2]) {
      const { report } = await search([[T1, 0.6189, 30], [E0, 0.6072, 5], [T2, 0.6109, 30], [NEG, 0.63, 30]], lanes);
      expect(report.notCounted).toEqual([]);
      expect(report.trials.map((t) => t.settings)).toEqual([T1, E0, T2, NEG]);
      expect(report.chosen).toMatchObject(NEG);
    }
  });

  it("a trial pool stops one trial at its runner's signal and goes on with the next", async () => {
    const test = rows(40);
    const trialRows = { train: Array.from({ length: 200 }, (_, i) => i), heldOut: Array.from({ length: 40 }, (_, i) => 200 + i) };
    const pool = new TrialPool(1, { trainPath: 'synthetic' }, null);
    try {
      await pool.ready();
      const stop = new AbortController();
      const long = pool.runner({ ...config, ...AUTO_TEACHER_START.base, alpha: 0.5, epochs: 100000, dim: 16 }, train, test, teacherPath, trialRows, stop.signal);
      setTimeout(() => stop.abort('enough'), 300);
      await expect(long).rejects.toThrow(CancelledError);
      const next = await pool.runner({ ...config, ...AUTO_TEACHER_START.base, alpha: 0.5, epochs: 1, dim: 16 }, train, test, teacherPath, trialRows);
      expect(next.p1).toBeGreaterThanOrEqual(0);
      expect(next.stageSeconds?.training).toBeGreaterThan(0);
    } finally {
      await pool.close();
    }
  });
});

describe("--auto's choice of a simpler candidate (the one-standard-error rule)", () => {
  /** n held-out rows, `count` of them hits from row `from` on. */
  const hits = (n: number, count: number, from = 0): Uint8Array => {
    const h = new Uint8Array(n);
    for (let r = from; r < from + count; r++) h[r % n] = 1;
    return h;
  };
  const trial = (settings: Partial<TrainConfig>, h: Uint8Array): AutoTrial => ({ settings, heldOutP1: h.reduce((s, x) => s + x, 0) / h.length, seconds: 1 });

  it('takes the simpler candidate when the best leads it by less than √(discordant rows) / rows', () => {
    // apt-files' case: α 0.5 leads α=0 by 3 of 1,985 rows, the two disagreeing on 103 rows (SE √103/1985 = 0.51 %)
    const alpha0 = hits(1985, 1547);
    const distilled = hits(1985, 1550, 50); // rows 50..1599: 50 rows only α=0 has right, 53 only α 0.5
    const [a0, a5] = [AUTO_RANDOM_START.candidates[0], AUTO_RANDOM_START.candidates[1]];
    const done = [trial(a0, alpha0), trial(a5, distilled)];
    const got = simplerWithin(done, new Map([[0, alpha0], [1, distilled]]), 1, AUTO_RANDOM_START.simpler!);
    expect(got?.at).toBe(0);
    expect(got!.choice.over).toEqual(a5);
    expect(got!.choice.difference).toBeCloseTo(3 / 1985, 12);
    let discordant = 0;
    for (let r = 0; r < 1985; r++) if (alpha0[r] !== distilled[r]) discordant++;
    expect(got!.choice.standardError).toBeCloseTo(Math.sqrt(discordant) / 1985, 12);
  });

  it('keeps the best when it leads by more than one standard error, or is itself the simpler one, or rows are missing', () => {
    // Bibtex's case: T 1 leads epochs 0 by 19 of 1,619 rows and they disagree on 19: a lead of √19 standard errors
    const e0 = hits(1619, 983);
    const t1 = hits(1619, 1002);
    const done = [trial(T1, t1), trial(E0, e0)];
    expect(simplerWithin(done, new Map([[0, t1], [1, e0]]), 0, AUTO_TEACHER_START.simpler!)).toBeNull();
    expect(simplerWithin(done, new Map([[0, t1], [1, e0]]), 1, AUTO_TEACHER_START.simpler!)).toBeNull();
    expect(simplerWithin(done, new Map([[0, t1]]), 0, AUTO_TEACHER_START.simpler!)).toBeNull();
  });

  it('chooses so in a search, and by P@1 alone with preferSimpler off', async () => {
    const n = 200;
    const dir = await mkdtemp(join(tmpdir(), 'distilxr-simpler-'));
    try {
      const teacherPath = join(dir, 'teacher.onnx');
      await writeFile(teacherPath, exportSparseLinearOnnx(model));
      // T 1 leads epochs 0 by one row of 200, the only row they disagree on: one standard error, √1 / 200
      const answers = new Map<string, Uint8Array>([
        [JSON.stringify(T1), hits(n, 101)],
        [JSON.stringify(E0), hits(n, 100, 1)],
        [JSON.stringify(T2), hits(n, 90)],
        [JSON.stringify(NEG), hits(n, 80)],
      ]);
      const runner: TrialRunner = async (cfg) => {
        const key = [T1, E0, T2, NEG].find((c) => Object.entries({ epochs: AUTO_TEACHER_START.base.epochs, hardNegatives: config.hardNegatives, ...c }).every(([k, v]) => cfg[k as keyof TrainConfig] === v))!;
        const h = answers.get(JSON.stringify(key))!;
        return { p1: h.reduce((s, x) => s + x, 0) / n, hits: h };
      };
      const logs: string[] = [];
      const sink = { stage: () => undefined, progress: () => undefined, epoch: () => undefined, log: (m: string) => logs.push(m) };
      const simpler = await autoTune(train, teacherPath, config, runner, { sink });
      expect(simpler.chosen).toMatchObject(E0);
      expect(simpler.simplerChoice).toMatchObject({ over: T1 });
      expect(logs.join('\n')).toMatch(/chosen over .*a simpler model, within one standard error/);
      const byP1 = await autoTune(train, teacherPath, config, runner, { preferSimpler: false });
      expect(byP1.chosen).toMatchObject(T1);
      expect(byP1.simplerChoice).toBeUndefined();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("--auto's time budget", () => {
  // apt-files' shape (BENCHMARKS.md 0): 237,888 rows of 16 features, 57,764 labels, 1.005 labels a row
  const aptFiles: DatasetStats = { points: 237_888, features: 178_917, labels: 57_764, labelsPerPoint: 1.005, pointsPerLabel: 4.14, nnzPerPoint: 15.94 };
  const small: DatasetStats = { points: 4_880, features: 1_836, labels: 159, labelsPerPoint: 2.38, pointsPerLabel: 73, nnzPerPoint: 68.5 };
  const trialRows = (s: DatasetStats): DatasetStats => ({ ...s, points: Math.round(0.9 * s.points) });
  const estimate = (s: DatasetStats, settings: Partial<TrainConfig>): number =>
    trainJobCost({ stats: trialRows(s), config: { ...DEFAULT_TRAIN_CONFIG, ...AUTO_RANDOM_START.base, ...settings, neighbours: 0 }, inputDim: s.features, teacher: (settings.alpha ?? 0) > 0 }).seconds;

  it('is by default the α=0 job as estimated, at least the floor: one apt-files α 0.5 trial does not fit it, the α=0 one does', () => {
    expect(defaultAutoBudget(small, DEFAULT_TRAIN_CONFIG, small.features)).toBe(AUTO_MIN_BUDGET_SECONDS);
    // a transformer's scoring is not in the cost model: a text teacher's search keeps a fixed budget
    expect(defaultAutoBudget(small, DEFAULT_TRAIN_CONFIG, small.features, true)).toBe(AUTO_TEXT_TEACHER_BUDGET_SECONDS);
    const budget = defaultAutoBudget(aptFiles, DEFAULT_TRAIN_CONFIG, aptFiles.features);
    const [a0, a5] = AUTO_RANDOM_START.candidates;
    expect(budget).toBeGreaterThan(AUTO_MIN_BUDGET_SECONDS);
    expect(estimate(aptFiles, a0)).toBeLessThan(budget);
    expect(estimate(aptFiles, a5)).toBeGreaterThan(budget);
    // every candidate of the small set fits many times over
    for (const c of AUTO_TEACHER_START.candidates) expect(4 * estimate(small, { ...AUTO_TEACHER_START.base, ...c })).toBeLessThan(AUTO_MIN_BUDGET_SECONDS);
  });

  it('starts no candidate whose estimate does not fit, not even on an idle lane before a trial has been measured; a first trial alone gets its own runner', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'distilxr-budget-'));
    try {
      const teacherPath = join(dir, 'teacher.onnx');
      await writeFile(teacherPath, exportSparseLinearOnnx(model));
      const started: string[] = [];
      const logs: string[] = [];
      const runner = scripted([[T1, 0.5, 5], [E0, 0.6, 1], [T2, 0.7, 1], [NEG, 0.8, 1]], started);
      const report = await autoTune(train, teacherPath, config, runner, { concurrency: 2, budgetSeconds: 1e-9, sink: { ...silentProgress, log: (m) => logs.push(m) } });
      expect(started).toEqual([JSON.stringify(T1)]); // the first always runs: the search must choose
      expect(report.trials.map((t) => t.settings)).toEqual([T1]);
      expect(report.skipped).toBe(3);
      expect(logs.some((m) => /^auto: teacher start \{"epochs":0\} not run: expected \d+\.\d s after \d+\.\d s would pass the budget of 1e-9 s$/.test(m))).toBe(true);
      // with a runner for a trial alone, that one runs it (on the job's threads) and the lanes' runner none
      const alone: string[] = [];
      started.length = 0;
      // the first candidate distils, so the job cannot stand in for its trial: blendByJob is not called
      const byJob: TrialRows[] = [];
      const single = await autoTune(train, teacherPath, config, runner, { concurrency: 2, budgetSeconds: 1e-9, runAlone: scripted([[T1, 0.5, 1]], alone), blendByJob: (rows) => void byJob.push(rows), sink: { ...silentProgress, log: (m) => logs.push(m) } });
      expect([started, alone, byJob]).toEqual([[], [JSON.stringify(T1)], []]);
      expect(single.blendByJob).toBeUndefined();
      expect(single.chosen).toMatchObject(T1);
      expect(logs).toContain('auto: only the first candidate fits the budget beside it: its trial runs alone, on the job\'s threads');
      // a budget that holds them all runs them all, two at a time, on the lanes' runner
      started.length = 0;
      const all = await autoTune(train, teacherPath, config, runner, { concurrency: 2, budgetSeconds: 60, everyCandidate: true, runAlone: scripted([], alone) });
      expect(alone).toHaveLength(1);
      expect(all.trials).toHaveLength(4);
      expect(all.skipped).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
