import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mkdtemp, rm } from 'node:fs/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { LabelIndex } from '../src/ann/hnsw-index.js';
import { buildIndexInThread, type IndexSpec } from '../src/ann/threaded-build.js';
import { Rng } from '../src/core/util/rng.js';

function vectors(count: number, dim: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: count * dim }, () => rng.normal());
}

describe('a label index built on a worker thread', () => {
  const dim = 8;
  const options = { M: 8, efConstruction: 40, seed: 7 };
  const specs: IndexSpec[] = [
    { vectors: vectors(1500, dim, 1), count: 1500, dim, options },
    { vectors: vectors(2500, dim, 2), count: 2500, dim, options },
  ];
  let dir = '';
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('is the same graph, byte for byte, as the one built here, two at once', async () => {
    dir = await mkdtemp(join(tmpdir(), 'distilxr-threaded-build-'));
    const builds = specs.map((s) => buildIndexInThread(s));
    // each worker says it is building (false would mean it ended without saying so)
    expect(await Promise.all(builds.map((b) => b.building))).toEqual([true, true]);
    const threaded = await Promise.all(builds.map((b) => b.index));
    const serial = specs.map((s) => LabelIndex.build(s.vectors, s.count, s.dim, s.options));
    expect(threaded.map((i) => i.count)).toEqual([1500, 2500]);
    for (let i = 0; i < specs.length; i++) {
      const a = await threaded[i].save(join(dir, `threaded-${i}.bin`));
      const b = await serial[i].save(join(dir, `serial-${i}.bin`));
      expect(a.sha256).toBe(b.sha256);
      expect((await readFile(join(dir, `threaded-${i}.bin`))).length).toBeGreaterThan(specs[i].count * dim * 4);
      const q = specs[i].vectors.subarray(0, dim * 5);
      const labels = new Int32Array(10);
      const scores = new Float32Array(10);
      for (let r = 0; r < 5; r++) {
        threaded[i].searchInto(q, r * dim, 10, labels, scores, 0);
        const t = [...labels];
        serial[i].searchInto(q, r * dim, 10, labels, scores, 0);
        expect(t).toEqual([...labels]);
      }
    }
  });

  it('reports a worker that fails', async () => {
    const bad = buildIndexInThread({ ...specs[1], dim: 0 });
    expect(await bad.building).toBe(true); // it started, then failed
    await expect(bad.index).rejects.toThrow(/index build worker: LabelIndex.build needs count, dim >= 1/);
  });
});
