import { describe, expect, it } from 'vitest';
import { CsrBuilder } from '../src/core/data/csr.js';
import type { Dataset } from '../src/core/data/dataset.js';
import { evenlySpacedSubset } from '../src/pipeline/evaluate.js';

function dataset(rows: number): Dataset {
  const f = new CsrBuilder(true);
  const l = new CsrBuilder(false);
  for (let r = 0; r < rows; r++) {
    f.push(r % 7, r + 0.5);
    f.endRow();
    l.push(r);
    l.endRow();
  }
  return { features: f.build(7), labels: l.build(rows), source: 'mem' };
}

describe('evenlySpacedSubset (evaluation over very many labels)', () => {
  it('keeps every point when few enough, else evenly spaced rows with their labels', () => {
    const d = dataset(10);
    expect(evenlySpacedSubset(d, 10)).toBe(d);
    const s = evenlySpacedSubset(d, 4);
    expect(s.features.rows).toBe(4);
    expect(Array.from(s.labels.indices)).toEqual([0, 2, 5, 7]); // label r marks source row r
    expect(Array.from(s.features.values!)).toEqual([0.5, 2.5, 5.5, 7.5]);
    expect(s.labels.cols).toBe(10);
  });
});
