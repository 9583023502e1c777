import type { Csr } from '../data/csr.js';
import { KernelMemory } from '../simd/kernel-memory.js';
import { adagradFactory } from './optimizer.js';
import { Student } from './student.js';
import type { TrainConfig } from './train-config.js';
import { StudentTrainer } from './trainer.js';

/**
 * The student a run trains and its trainer, with the parameters where the run needs them: with
 * cfg.simdKernels, copied into a kernel memory (shared, so any thread count works) with room for
 * the accumulators and every thread's scratch; else in shared memory for more than one thread, or
 * left where they are.
 */
export function trainingSetup(initial: Student, features: Csr, labels: Csr, cfg: TrainConfig, threads: number): { student: Student; trainer: StudentTrainer } {
  const kernels = cfg.simdKernels ? KernelMemory.create(trainingFloats(initial, cfg.rowwiseAdagrad, threads)) : null;
  if (kernels) {
    const student = new Student(initial.shape, kernels.copyOf(initial.W1), kernels.copyOf(initial.V));
    return { student, trainer: new StudentTrainer(student, features, labels, cfg, adagradFactory(cfg.rowwiseAdagrad, 'shared', kernels), kernels) };
  }
  const student = threads > 1 ? initial.inSharedMemory() : initial;
  return { student, trainer: new StudentTrainer(student, features, labels, cfg, adagradFactory(cfg.rowwiseAdagrad, threads > 1 ? 'shared' : 'own')) };
}

/**
 * Floats a kernel memory needs: the parameters, their accumulators, and scratch (q, dq, du) for a
 * trainer in this thread and in each training thread, twice over for threads started again.
 */
function trainingFloats(s: Student, rowwise: boolean, threads: number): number {
  const d = s.shape.dim;
  const up = (n: number): number => Math.ceil(n / 4) * 4;
  const accum = (n: number): number => up(rowwise ? n / d : n);
  return up(s.W1.length) + up(s.V.length) + accum(s.W1.length) + accum(s.V.length) + (2 * threads + 2) * up(3 * d);
}
