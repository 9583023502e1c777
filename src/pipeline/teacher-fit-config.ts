/** The teacher-fit settings, their defaults and their one validation (CLI, HTTP jobs and the worker). */
import { UsageError } from '../core/util/errors.js';
import { pickSettings } from '../core/util/settings.js';
import type { LinearTeacherConfig } from '../teacher/linear-teacher.js';
import { DEFAULT_OVR_SOLVER } from '../teacher/ovr-solver.js';

export interface TeacherFitConfig extends LinearTeacherConfig {
  /** Training rows (out of fold) the temperature is fitted on, at most. @defaultValue 20000 */
  calibrationRows: number;
}

export const DEFAULT_TEACHER_FIT: TeacherFitConfig = {
  ...DEFAULT_OVR_SOLVER,
  C: 0.5,
  maxPasses: 10,
  shortlist: 0,
  shortlistRecall: 1,
  fullMaxLabels: 1024,
  centroidPostings: 1000,
  folds: 3,
  centroidWeight: 0.5,
  fullTeacher: true,
  threads: 0,
  calibrationRows: 20000,
};

export function teacherFitConfigOf(params: Record<string, unknown>): TeacherFitConfig {
  const c = pickSettings(DEFAULT_TEACHER_FIT, params);
  const problems: string[] = [];
  type NumberKey = { [K in keyof TeacherFitConfig]: TeacherFitConfig[K] extends number ? K : never }[keyof TeacherFitConfig];
  const int = (name: NumberKey, lo: number, hi: number): void => {
    const v = c[name];
    if (!Number.isInteger(v) || v < lo || v > hi) problems.push(`${name} must be an integer in [${lo}, ${hi}], got ${v}`);
  };
  const real = (name: NumberKey, lo: number, hi: number, openLo: boolean): void => {
    const v = c[name];
    if (!Number.isFinite(v) || v < lo || v > hi || (openLo && v === lo)) problems.push(`${name} must be in ${openLo ? '(' : '['}${lo}, ${hi}], got ${v}`);
  };
  real('C', 0, 1000, true);
  real('threshold', 0, 10, false);
  int('maxPasses', 1, 1000);
  int('shortlist', 0, 10000);
  real('shortlistRecall', 0, 1, false);
  int('fullMaxLabels', 0, 1_000_000);
  int('calibrationRows', 1, 10_000_000);
  int('folds', 0, 10);
  real('centroidWeight', 0, 100, false);
  int('threads', 0, 64);
  int('seed', 0, 2 ** 31 - 1);
  if (problems.length) throw new UsageError(`invalid teacher settings: ${problems.join('; ')}`);
  return c;
}
