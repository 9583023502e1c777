/**
 * A contract-valid ONNX teacher with random weights, for tests where the teacher's quality is
 * beside the point (uploads, contract checks, fuzzing). Deterministic for a given seed.
 */
import { Rng } from '../../src/core/util/rng.js';
import { exportSparseEncoderOnnx } from '../../src/teacher/onnx-export.js';

export interface RandomTeacherShape {
  inputDim: number;
  hiddenDim: number;
  numLabels: number;
  seed: number;
}

/** W1 then the label table drawn from N(0, 1) with Rng(seed); `scores` output. */
export function randomTeacherOnnx({ inputDim, hiddenDim, numLabels, seed }: RandomTeacherShape): Uint8Array {
  const rng = new Rng(seed);
  return exportSparseEncoderOnnx({
    inputDim,
    hiddenDim,
    W1: Float32Array.from({ length: inputDim * hiddenDim }, () => rng.normal()),
    labelTable: Float32Array.from({ length: numLabels * hiddenDim }, () => rng.normal()),
    numLabels,
    output: 'scores',
  });
}
