/**
 * One declaration of the training settings (TRAIN_SETTINGS) and what derives from it: the
 * defaults, the validation, the HTTP schema of a job's params and the `distilxr train` flags; and
 * the one no-teacher rule (withoutTeacher) the API, the CLI and the worker share.
 */
import { describe, expect, it } from 'vitest';
import { teacherCommand, trainCommand } from '../src/cli/commands-model.js';
import { DEFAULT_TRAIN_CONFIG, TRAIN_SETTINGS, validateTrainConfig, withoutTeacher } from '../src/core/model/train-config.js';
import { DEFAULT_TEACHER_FIT, TEACHER_FIT_SETTINGS, teacherFitConfigOf } from '../src/pipeline/teacher-fit-config.js';
import { TrainParams } from '../src/service/schemas/jobs.js';
import { TeacherFitParams } from '../src/service/schemas/teachers.js';

const names = { prefix: 'params.', teacher: 'teacherId' };

describe('training settings', () => {
  it('defaults and validation come from the declaration', () => {
    expect(Object.keys(DEFAULT_TRAIN_CONFIG)).toEqual(Object.keys(TRAIN_SETTINGS));
    expect(DEFAULT_TRAIN_CONFIG).toMatchObject({ dim: 64, alpha: 0.5, teacherCalibration: true, teacherWeightedNegatives: false, voteTemperature: 0.1 });
    expect(validateTrainConfig(DEFAULT_TRAIN_CONFIG)).toEqual([]);
    expect(validateTrainConfig({ ...DEFAULT_TRAIN_CONFIG, dim: 0, tau: 0, alpha: 2, hardNegatives: 100 })).toEqual([
      'dim must be an integer in [1, 4096], got 0',
      'tau must be in (0, 100], got 0',
      'alpha must be in [0, 1], got 2',
      'hardNegatives (100) cannot exceed poolSize (64)',
    ]);
    expect(validateTrainConfig({ ...DEFAULT_TRAIN_CONFIG, teacherWeightedNegatives: 1 as unknown as boolean })).toEqual(['teacherWeightedNegatives must be true or false, got 1']);
  });

  it('the HTTP schema of params has every setting with its range, default and description', () => {
    const props = TrainParams.properties as unknown as Record<string, Record<string, unknown>>;
    for (const [key, s] of Object.entries(TRAIN_SETTINGS)) {
      const p = props[key];
      expect(p, key).toBeDefined();
      expect(p.default, key).toBe(s.default);
      expect(p.description, key).toBe(s.description);
      expect(p.type, key).toBe(s.type);
      if (s.type !== 'boolean') {
        expect(p.maximum, key).toBe(s.max);
        expect('exclusiveMin' in s && s.exclusiveMin ? p.exclusiveMinimum : p.minimum, key).toBe(s.min);
      }
    }
  });

  it('the CLI has a flag for every setting, with its default', () => {
    const cmd = trainCommand();
    const byKey = new Map(cmd.options.map((o) => [o.attributeName(), o]));
    for (const [key, s] of Object.entries(TRAIN_SETTINGS)) {
      const o = byKey.get(key);
      expect(o, key).toBeDefined();
      if (s.type === 'boolean' && s.default) expect(o!.negate, key).toBe(true);
      else expect(o!.defaultValue, key).toBe(s.default);
    }
    expect(byKey.get('hardNegatives')!.flags).toBe('--hard-negatives <n>');
    expect(byKey.get('labelBias')!.flags).toBe('--no-label-bias');
  });

  it('without a teacher: alpha is 0; an explicit alpha above 0 or teacher-weighted negatives are refused', () => {
    expect(withoutTeacher(DEFAULT_TRAIN_CONFIG, {}, names)).toEqual({ config: { ...DEFAULT_TRAIN_CONFIG, alpha: 0 }, problems: [] });
    expect(withoutTeacher(DEFAULT_TRAIN_CONFIG, { alpha: 0 }, names).problems).toEqual([]);
    expect(withoutTeacher({ ...DEFAULT_TRAIN_CONFIG, alpha: 0.3, teacherWeightedNegatives: true }, { alpha: 0.3, teacherWeightedNegatives: true }, { prefix: '', teacher: '--teacher' }).problems).toEqual([
      'alpha is 0.3 but no --teacher was given: distillation needs a teacher',
      'teacherWeightedNegatives needs a --teacher',
    ]);
  });

  it('the teacher-fit settings derive the same way: defaults, checks, HTTP schema, flags', () => {
    expect(DEFAULT_TEACHER_FIT).toMatchObject({ C: 0.5, maxPasses: 10, folds: 3, fullTeacher: true, calibrationRows: 20000, biasFeature: 1, eps: 0.1, centroidPostings: 1000 });
    expect(() => teacherFitConfigOf({ C: 0, folds: 11 })).toThrow('invalid teacher settings: C must be in (0, 1000], got 0; folds must be an integer in [0, 10], got 11');
    const props = TeacherFitParams.properties as unknown as Record<string, Record<string, unknown>>;
    const fit = teacherCommand().commands.find((c) => c.name() === 'fit')!;
    const flags = new Map(fit.options.map((o) => [o.attributeName(), o]));
    for (const [key, s] of Object.entries(TEACHER_FIT_SETTINGS)) {
      expect(props[key]?.default, key).toBe(s.default);
      expect(flags.get(key), key).toBeDefined();
    }
    expect(flags.get('C')!.flags).toBe('--C <c>');
    expect(flags.get('fullTeacher')!.flags).toBe('--no-full-teacher');
  });
});
