/**
 * One declaration of the training settings (TRAIN_SETTINGS) and what derives from it: the
 * defaults, the validation, the HTTP schema of a job's params and the `distilxr train` flags; and
 * the one no-teacher rule (withoutTeacher) the API, the CLI and the worker share.
 */
import { describe, expect, it } from 'vitest';
import { trainCommand } from '../src/cli/commands-model.js';
import { DEFAULT_TRAIN_CONFIG, TRAIN_SETTINGS, validateTrainConfig, withoutTeacher } from '../src/core/model/train-config.js';
import { TrainParams } from '../src/service/schemas/jobs.js';

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
});
