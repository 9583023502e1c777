import { describe, expect, it } from 'vitest';
import { meanMetrics, pairedDifference } from '../bench/seed-stats.js';

describe('seed statistics of the quality bench', () => {
  it('pairs differences by seed: the standard error of a constant shift is 0, of noise its sample s.d. / √n', () => {
    expect(pairedDifference([0.5, 0.6, 0.7], [0.4, 0.5, 0.6])).toEqual({ mean: expect.closeTo(0.1, 12), standardError: expect.closeTo(0, 12), n: 3 });
    // differences 0.1, −0.1, 0.3, 0.1: mean 0.1, sample variance (0 + 0.04 + 0.04 + 0) / 3
    const d = pairedDifference([0.6, 0.4, 0.8, 0.5], [0.5, 0.5, 0.5, 0.4]);
    expect(d.mean).toBeCloseTo(0.1, 12);
    expect(d.standardError).toBeCloseTo(Math.sqrt(0.08 / 3 / 4), 12);
    expect(pairedDifference([0.7], [0.5]).standardError).toBeNull();
    expect(() => pairedDifference([0.7, 0.1], [0.5])).toThrow(/equal, non-empty/);
  });

  it('averages each metric every run has, and drops one a run lacks', () => {
    expect(meanMetrics([{ 'p@1': 0.5, 'p@5': 0.2 }, { 'p@1': 0.7 }])).toEqual({ 'p@1': expect.closeTo(0.6, 12) });
    expect(meanMetrics([])).toEqual({});
  });
});
