import type { Csr } from '../data/csr.js';
import { KernelMemory, type KernelMemorySlot } from '../simd/kernel-memory.js';
import { sharedFloats } from '../util/shared-arrays.js';
import { adagradFactory } from './optimizer.js';
import { Student, type StudentShape } from './student.js';
import type { TrainConfig } from './train-config.js';
import { StudentTrainer } from './trainer.js';

/**
 * A zeroed student where a run of `threads` trains it, for the caller to write its start into (no
 * copy of a start made elsewhere): with cfg.simdKernels, in a kernel memory (shared, so any thread
 * count works) with room for the accumulators and every thread's scratch; else in shared memory for
 * more than one thread, or in plain arrays. `slot`: a kernel memory to reuse. `stepScratch`: each trainer's room for
 * the batched step (stepScratchFloats of the training data; with 0 its trainers step row by row).
 */
export function trainingParameters(shape: StudentShape, cfg: TrainConfig, threads: number, slot: KernelMemorySlot | undefined, stepScratch: number): { blank: Student; kernels: KernelMemory | null } {
  const floats = trainingFloats(shape, cfg.rowwiseAdagrad, threads, stepScratch);
  const kernels = cfg.simdKernels ? (slot ? KernelMemory.fromSlot(slot, floats) : KernelMemory.create(floats)) : null;
  const { inputDim: D, numLabels: L, dim: d } = shape;
  if (kernels) return { blank: new Student(shape, kernels.floats(D * d), kernels.floats(L * d)), kernels };
  return { blank: threads > 1 ? new Student(shape, sharedFloats(D * d), sharedFloats(L * d)) : Student.zeros(shape), kernels: null };
}

/** The trainer of a student trainingParameters placed (`kernels`: the memory it is in, if any). */
export function trainerFor(student: Student, kernels: KernelMemory | null, features: Csr, labels: Csr, cfg: TrainConfig, threads: number): StudentTrainer {
  if (kernels) return new StudentTrainer(student, features, labels, cfg, adagradFactory(cfg.rowwiseAdagrad, 'shared', kernels), kernels);
  return new StudentTrainer(student, features, labels, cfg, adagradFactory(cfg.rowwiseAdagrad, threads > 1 ? 'shared' : 'own'));
}

/**
 * Floats a kernel memory needs: the parameters, their accumulators, and scratch (q, dq, du and the batched step's)
 * for a trainer in this thread and in each training thread, twice over for threads started again.
 */
function trainingFloats(shape: StudentShape, rowwise: boolean, threads: number, stepScratch: number): number {
  const d = shape.dim;
  const params = { W1: shape.inputDim * d, V: shape.numLabels * d };
  const up = (n: number): number => Math.ceil(n / 4) * 4;
  const accum = (n: number): number => up(rowwise ? n / d : n);
  return up(params.W1) + up(params.V) + accum(params.W1) + accum(params.V) + (2 * threads + 2) * (up(3 * d) + up(stepScratch));
}
