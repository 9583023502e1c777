/** Messages between fitOvrTasks (ovr-pool.ts) and its solver threads (ovr-worker.ts). */
import type { Csr } from '../core/data/csr.js';
import type { LabelBlock, LabelRows, OvrSolverConfig } from './ovr-solver.js';

/** workerData: the training set (shared memory) and the solver settings. */
export interface OvrInit {
  features: Csr;
  labels: Csr;
  numLabels: number;
  cfg: OvrSolverConfig;
}

/** Fit labels [y0, y1) of task `task` on these rows (arrays in shared memory). */
export interface OvrBlockRequest {
  task: number;
  y0: number;
  y1: number;
  rows: Int32Array;
  perLabel: LabelRows | null;
  seed: number;
}

export type OvrReply = { type: 'block'; block: LabelBlock } | { type: 'error'; message: string; stack?: string };
