/**
 * --auto-extrapolate (autoTune's `extrapolate`, a job's default up to AUTO_EXTRAPOLATE_MAX_ROWS rows): every candidate also trained on a third of the rows (fold 1 of the
 * teacher's folds), ranked by its P@1 extrapolated to every row, with the random start's α 1 T 1 among the teacher
 * start's candidates. The rule is checked with runners that answer each candidate with a set P@1 at each size.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_TRAIN_CONFIG, type TrainConfig } from '../src/core/model/train-config.js';
import { AUTO_EXTRAPOLATE_MAX_ROWS, AUTO_RANDOM_START_ALPHA1, AUTO_TEACHER_START, autoTune, extrapolatedP1, extrapolatesByDefault, simplerWithin, withCandidateAt, type AutoTrial, type TrialRunner } from '../src/pipeline/auto-tune.js';
import { runTrainJob } from '../src/pipeline/train-job.js';
import { FOLDS_FORMAT, foldOf, labelsFingerprint } from '../src/teacher/folds.js';
import { exportSparseLinearOnnx } from '../src/teacher/sparse-linear-onnx.js';
import { answerFor, syntheticSearch } from './support/auto-search.js';

const { model, rows } = syntheticSearch(7);
const train = rows(300);
const config: TrainConfig = { ...DEFAULT_TRAIN_CONFIG, poolSize: 16, neighbours: 0 };
const [T1, E0, T2, NEG] = AUTO_TEACHER_START.candidates;

/** A runner answering candidate → P@1 (the first candidate whose settings the config has), recording the rows it trained on. */
function answering(answers: [Partial<TrainConfig>, number][], seen: { settings: string; rows: readonly number[] }[]): TrialRunner {
  return async (cfg, _train, _heldOut, _teacher, r) => {
    const [settings, p1] = answerFor(answers, cfg, config.hardNegatives);
    seen.push({ settings: JSON.stringify(settings), rows: r.train });
    return { p1 };
  };
}

describe('the extrapolating search (--auto-extrapolate)', () => {
  let dir: string;
  let teacherPath: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'distilxr-extrapolate-'));
    teacherPath = join(dir, 'teacher.onnx');
    const bytes = exportSparseLinearOnnx(model);
    await writeFile(teacherPath, bytes);
    // three fold "models" (the same weights: the search only reads fold 0's), as `teacher fit` leaves them
    for (let k = 0; k < 3; k++) await writeFile(join(dir, `teacher.fold${k}.onnx`), bytes);
    const manifest = { format: FOLDS_FORMAT, version: 1, folds: 3, seed: 1, trainPoints: train.features.rows, labelsFingerprint: labelsFingerprint(train.labels), files: [0, 1, 2].map((k) => `teacher.fold${k}.onnx`) };
    await writeFile(join(dir, 'teacher.folds.json'), JSON.stringify(manifest));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('extrapolates log-linearly in the rows: a third → two thirds → all', () => {
    const thirds = { small: 100, trial: 200, all: 300 };
    expect(extrapolatedP1(0.6, 0.62, thirds)).toBeCloseTo(0.62 + 0.02 * (Math.log(1.5) / Math.log(2)), 12);
    expect(extrapolatedP1(0.5, 0.5, thirds)).toBe(0.5);
    // a line in log(rows): 0.1 per doubling from 100 to 400 rows
    expect(extrapolatedP1(0.5, 0.6, { small: 100, trial: 200, all: 400 })).toBeCloseTo(0.7, 12);
  });

  it('trains each candidate on fold 1 too, and chooses by the extrapolation: the random start α 1 T 1 that gains most with rows', async () => {
    // at two thirds of the rows α 0.5 T 1 leads; α 1 T 1 gains 4 points from a third to two thirds, the others 1 or none
    const atTrial: [Partial<TrainConfig>, number][] = [[T1, 0.62], [E0, 0.6], [T2, 0.615], [NEG, 0.612], [AUTO_RANDOM_START_ALPHA1, 0.61]];
    const atThird: [Partial<TrainConfig>, number][] = [[T1, 0.61], [E0, 0.6], [T2, 0.605], [NEG, 0.602], [AUTO_RANDOM_START_ALPHA1, 0.57]];
    const seenTrial: { settings: string; rows: readonly number[] }[] = [];
    const seenThird: { settings: string; rows: readonly number[] }[] = [];
    const report = await autoTune(train, teacherPath, config, answering(atTrial, seenTrial), { extrapolate: { runTrial: answering(atThird, seenThird) } });
    expect(report.family).toBe('teacher start');
    const trialRows = [...Array(train.features.rows).keys()].filter((r) => foldOf(r, 3, 1) !== 0);
    const thirdRows = trialRows.filter((r) => foldOf(r, 3, 1) === 1);
    expect(seenTrial.every((s) => s.rows.join() === trialRows.join())).toBe(true);
    expect(seenThird.every((s) => s.rows.join() === thirdRows.join())).toBe(true);
    // every candidate run at both sizes, α 1 T 1 third (after the trained and the untrained candidate); it leads
    // α 0.5 T 1 once extrapolated, so the negatives' refinement of α 0.5 T 1 is not run
    expect(seenThird.map((s) => s.settings)).toEqual(seenTrial.map((s) => s.settings));
    expect(seenTrial.map((s) => s.settings)).toEqual([T1, E0, AUTO_RANDOM_START_ALPHA1, T2].map((c) => JSON.stringify(c)));
    expect(report.notCounted.map((n) => n.settings)).toEqual([NEG]);
    const a1 = report.trials.find((t) => t.settings === AUTO_RANDOM_START_ALPHA1)!;
    expect(a1.sizes).toEqual({ small: 0.57, trial: 0.61 });
    expect(a1.heldOutP1).toBeCloseTo(extrapolatedP1(0.57, 0.61, { small: thirdRows.length, trial: trialRows.length, all: train.features.rows }), 12);
    expect(report.chosen).toMatchObject(AUTO_RANDOM_START_ALPHA1);
  });

  it('without the lever, searches as before', async () => {
    const seen: { settings: string; rows: readonly number[] }[] = [];
    const report = await autoTune(train, teacherPath, config, answering([[T1, 0.62], [E0, 0.6], [T2, 0.615], [NEG, 0.612]], seen), {});
    expect(seen.map((s) => s.settings)).not.toContain(JSON.stringify(AUTO_RANDOM_START_ALPHA1));
    expect(report.trials.every((t) => t.sizes === undefined)).toBe(true);
    expect(report.chosen).toMatchObject(T1);
  });

  it('is the default up to AUTO_EXTRAPOLATE_MAX_ROWS rows without a text teacher, and a job turns it off when told', async () => {
    expect(extrapolatesByDefault(AUTO_EXTRAPOLATE_MAX_ROWS, false)).toBe(true);
    expect(extrapolatesByDefault(AUTO_EXTRAPOLATE_MAX_ROWS + 1, false)).toBe(false);
    expect(extrapolatesByDefault(100, true)).toBe(false);
    const job = async (extrapolate: boolean | undefined) => {
      const logs: string[] = [];
      const sink = { stage: () => undefined, progress: () => undefined, epoch: () => undefined, log: (m: string) => logs.push(m) };
      const auto = { budgetSeconds: 3600, trialThreads: 1, ...(extrapolate === undefined ? {} : { extrapolate }) };
      const r = await runTrainJob({ trainPath: 'synthetic', teacherPath, data: { train }, config: { ...config, poolSize: DEFAULT_TRAIN_CONFIG.poolSize, threads: 1 }, auto, evaluateTeacher: false }, sink);
      return { report: r.auto!, logs };
    };
    const byDefault = await job(undefined);
    expect(byDefault.report.trials.length).toBeGreaterThan(0);
    expect(byDefault.report.trials.every((t) => t.sizes !== undefined)).toBe(true);
    expect(byDefault.report.trials.map((t) => t.settings)).toContainEqual(AUTO_RANDOM_START_ALPHA1);
    expect(byDefault.logs.join('\n')).toMatch(/extrapolated to every row \(the default up to 10000 training rows; --no-auto-extrapolate turns it off\)/);
    const off = await job(false);
    expect(off.report.trials.length).toBeGreaterThan(0);
    expect(off.report.trials.every((t) => t.sizes === undefined)).toBe(true);
    expect(off.logs.join('\n')).not.toMatch(/extrapolat/);
  });

  it('inserts a candidate with the refinements and the simpler candidates renumbered', () => {
    const family = withCandidateAt(AUTO_TEACHER_START, AUTO_RANDOM_START_ALPHA1, 2);
    expect(family.candidates).toEqual([T1, E0, AUTO_RANDOM_START_ALPHA1, T2, NEG]);
    expect(family.refines).toEqual({ 4: 0 }); // NEG still refines T1
    expect(family.simpler).toEqual([1]); // E0 stays where it was
    const first = withCandidateAt(AUTO_TEACHER_START, AUTO_RANDOM_START_ALPHA1, 0);
    expect(first.refines).toEqual({ 4: 1 });
    expect(first.simpler).toEqual([2]);
    expect(AUTO_TEACHER_START.candidates).toHaveLength(4); // the family itself unchanged
  });

  it("keeps the simpler candidate unless the extrapolated lead passes one standard error of the rows", () => {
    const trial = (settings: Partial<TrainConfig>, heldOutP1: number, extrapolated = true): AutoTrial => ({ settings, heldOutP1, seconds: 1, ...(extrapolated ? { sizes: { small: heldOutP1 - 0.01, trial: heldOutP1 } } : {}) });
    // 100 rows, 10 discordant: one standard error is √10 / 100 ≈ 0.032
    const a = new Uint8Array(100).fill(1);
    const b = new Uint8Array(100).fill(1);
    for (let r = 0; r < 10; r++) (r < 6 ? b : a)[r] = 0; // rows alone: the best leads by 6 − 4 = 2 < √10
    const hits = new Map([[0, a], [1, b]]);
    // not extrapolated: by the rows, whatever the scores say
    expect(simplerWithin([trial(T1, 0.64, false), trial(E0, 0.6, false)], hits, 0, [1])?.at).toBe(1);
    expect(simplerWithin([trial(T1, 0.62), trial(E0, 0.6)], hits, 0, [1])?.at).toBe(1); // 0.02 < 0.032
    expect(simplerWithin([trial(T1, 0.64), trial(E0, 0.6)], hits, 0, [1])).toBeNull(); // 0.04 > 0.032
  });
});
