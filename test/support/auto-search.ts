/**
 * A small synthetic problem for --auto's rules (auto-refinement.test.ts, auto-extrapolate.test.ts): a sparse linear
 * teacher whose rank (the label count) the teacher start holds whole, so its family is searched, and rows of one label
 * each, all drawn in turn from one Rng of the given seed.
 */
import { CsrBuilder } from '../../src/core/data/csr.js';
import type { Dataset } from '../../src/core/data/dataset.js';
import type { TrainConfig } from '../../src/core/model/train-config.js';
import { AUTO_TEACHER_START } from '../../src/pipeline/auto-tune.js';
import { Rng } from '../../src/core/util/rng.js';
import { SparseLinearModel } from '../../src/teacher/sparse-linear-model.js';
import { randomSparse } from './random-sparse.js';

export function syntheticSearch(seed: number, D = 300, L = 30): { model: SparseLinearModel; rows: (n: number) => Dataset } {
  const rng = new Rng(seed);
  const model = new SparseLinearModel(D, L, randomSparse(rng, L, D, 10), new Float32Array(L));
  const rows = (n: number): Dataset => {
    const b = new CsrBuilder(false);
    for (let r = 0; r < n; r++) {
      b.push(rng.int(L), 1);
      b.endRow();
    }
    return { features: randomSparse(rng, n, D, 6), labels: b.build(L), source: 'synthetic' };
  };
  return { model, rows };
}

/**
 * The scripted answer of the candidate a trial's `cfg` runs: the first whose own settings it has (the teacher start's
 * epochs and `hardNegatives` where the candidate names none), as the tests' trial runners tell their candidates apart.
 */
export function answerFor<A extends [Partial<TrainConfig>, ...unknown[]]>(answers: readonly A[], cfg: TrainConfig, hardNegatives: number): A {
  const has = (s: Partial<TrainConfig>): boolean => Object.entries({ epochs: AUTO_TEACHER_START.base.epochs, hardNegatives, ...s }).every(([k, v]) => cfg[k as keyof TrainConfig] === v);
  const answer = answers.find(([s]) => has(s));
  if (!answer) throw new Error(`no scripted answer for ${JSON.stringify(cfg)}`);
  return answer;
}
