/** Messages between HogwildTrainer (hogwild-trainer.ts) and its training threads (hogwild-worker.ts). */
import type { Csr } from '../data/csr.js';
import type { StudentShape } from './student.js';
import type { TrainConfig } from './train-config.js';
import type { LossSums, NegativePool } from './trainer.js';

/** What stays for a whole run, every array in shared memory: workerData of a new thread, or an init message to a kept one. */
export interface HogwildInit {
  shape: StudentShape;
  W1: Float32Array; // [D, d] written by every thread (Hogwild)
  V: Float32Array; // [L, d] written by every thread
  accumW1: Float32Array; // Adagrad state of W1, shared the same way
  accumV: Float32Array;
  /** The kernel memory W1, V and both accumulators are views of (the trainer's SIMD kernels), or null. */
  kernelMemory: WebAssembly.Memory | null;
  features: Csr;
  labels: Csr;
  config: TrainConfig;
  /** [N] the epoch's example order, written by the main thread before each epoch. */
  order: Int32Array;
  /** [1] non-zero: stop at the next batch boundary (cancelled, or another thread failed). */
  stop: Int32Array;
}

/** Train order[s0..s1) of this epoch, sampling from `seed`; pool and scores are read-only. */
export interface HogwildSlice {
  epoch: number;
  s0: number;
  s1: number;
  seed: number;
  pool: NegativePool | null;
  positiveScores: Float32Array | null;
}

/** To a training thread: a run's arrays (a thread kept from an earlier run), a slice to train, or the end of the run (drop the arrays). */
export type HogwildMessage = { type: 'init'; init: HogwildInit } | ({ type: 'slice' } & HogwildSlice) | { type: 'release' };

export type HogwildReply =
  /** Examples done so far in the slice and the sum of their losses. */
  | { type: 'progress'; done: number; lossSum: number }
  | { type: 'done'; sums: LossSums }
  | { type: 'error'; error: 'numeric' | 'cancelled' | 'other'; message: string; stack?: string };
