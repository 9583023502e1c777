/** The teacher-fit settings, their defaults and their one validation (CLI, HTTP jobs and the worker). */
import { UsageError } from '../core/util/errors.js';
import { defaultsOf, pickSettings, settingProblems, type SettingSpec, type SettingsOf } from '../core/util/settings.js';
import type { LinearTeacherConfig } from '../teacher/linear-teacher.js';
import { DEFAULT_OVR_SOLVER } from '../teacher/ovr-solver.js';

/**
 * The teacher-fit settings a user may set, declared once: the defaults, the validation, the HTTP
 * schema of a fit's params (service/schemas/teachers.ts) and the `teacher fit` flags derive from it.
 */
export const TEACHER_FIT_SETTINGS = {
  C: { type: 'number', min: 0, exclusiveMin: true, max: 1000, default: 0.5, arg: 'c', flag: 'C', description: 'inverse regularisation of each one-vs-rest SVM (liblinear C)' },
  threshold: { type: 'number', min: 0, max: 10, default: 0.1, arg: 'w', description: 'weights with |w| at or below this are dropped' },
  maxPasses: { type: 'integer', min: 1, max: 1000, default: 10, arg: 'n', description: "solver passes over a label's rows at most" },
  shortlist: {
    type: 'integer',
    min: 0,
    max: 10000,
    default: 0,
    arg: 'k',
    description: 'hard negatives per row from the label centroids (0 = automatic: 100 above fullMaxLabels labels; at or below, every label unless shortlistRecall < 1)',
  },
  shortlistRecall: {
    type: 'number',
    min: 0,
    max: 1,
    default: 1,
    arg: 'r',
    description: 'held-out recall of the positives the automatic shortlist must reach at or below fullMaxLabels labels (1 = never; 0.95 halves the debtags fit but costs the distilled student)',
  },
  fullMaxLabels: { type: 'integer', min: 0, max: 1_000_000, default: 1024, arg: 'n', description: 'exact one-vs-rest up to this many labels' },
  calibrationRows: { type: 'integer', min: 1, max: 10_000_000, default: 20000, arg: 'n', description: 'out-of-fold training rows the temperature is fitted on, at most' },
  folds: {
    type: 'integer',
    min: 0,
    max: 10,
    default: 3,
    arg: 'k',
    description: 'cross-fitting fold models written beside the teacher, so training examples are scored by a model that did not see them (0 = none)',
  },
  centroidWeight: { type: 'number', min: 0, max: 100, default: 0.5, arg: 'b', description: "weight of each label's centroid added to its classifier (a nearest-centroid vote for rare labels)" },
  fullTeacher: {
    type: 'boolean',
    default: true,
    description: 'with folds: publish a model fitted on every training row (true) or the mean of the fold models (false)',
    off: 'with folds: publish the mean of the fold models instead of one more model fitted on every training row',
  },
  threads: { type: 'integer', min: 0, max: 64, default: 0, arg: 'n', description: 'solver threads (0 = one per core); the model does not depend on it' },
  seed: { type: 'integer', min: 0, max: 2 ** 31 - 1, default: 1, arg: 'n', description: 'random seed' },
} as const satisfies Record<string, SettingSpec>;

/** The solver's settings no user sets (DEFAULT_OVR_SOLVER, and the centroid index's size). */
const FIXED = { biasFeature: DEFAULT_OVR_SOLVER.biasFeature, eps: DEFAULT_OVR_SOLVER.eps, centroidPostings: 1000 };

export type TeacherFitConfig = SettingsOf<typeof TEACHER_FIT_SETTINGS> & typeof FIXED;

export const DEFAULT_TEACHER_FIT: TeacherFitConfig = { ...FIXED, ...defaultsOf(TEACHER_FIT_SETTINGS) };

/** The configuration a fit runs with: `params` over the defaults, checked (CLI, HTTP jobs and the worker). */
export function teacherFitConfigOf(params: Record<string, unknown>): TeacherFitConfig {
  const c = pickSettings(DEFAULT_TEACHER_FIT, params);
  const problems = settingProblems(TEACHER_FIT_SETTINGS, c);
  if (problems.length) throw new UsageError(`invalid teacher settings: ${problems.join('; ')}`);
  return c satisfies LinearTeacherConfig;
}
