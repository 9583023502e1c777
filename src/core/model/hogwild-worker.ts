/**
 * A training thread of HogwildTrainer: trains the slices of each epoch's order it is sent,
 * writing the shared parameters without locks, with its own scratch buffers and sampling stream.
 * It outlives its run: HogwildTrainer keeps it for the next one, which sends its own arrays.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { KernelMemory } from '../simd/kernel-memory.js';
import { CancelledError, NumericError } from '../util/errors.js';
import type { HogwildInit, HogwildMessage, HogwildReply } from './hogwild-protocol.js';
import { adagradFactory } from './optimizer.js';
import { Student } from './student.js';
import { StudentTrainer } from './trainer.js';

/** Progress is posted at most this often: a message per batch would cost more than the batch. */
const PROGRESS_MS = 100;

const port = parentPort!;

interface Run {
  init: HogwildInit;
  trainer: StudentTrainer;
}

/** A run's trainer over the shared arrays; with a kernel memory, seen through this thread's view of it, where the kernels reach them. */
function setUp(init: HogwildInit): Run {
  const kernels = init.kernelMemory ? KernelMemory.attach(init.kernelMemory) : null;
  const here = (a: Float32Array): Float32Array => (kernels ? kernels.view(a) : a);
  const student = new Student(init.shape, here(init.W1), here(init.V));
  const accumOf = new Map([
    [student.W1, here(init.accumW1)],
    [student.V, here(init.accumV)],
  ]);
  return { init, trainer: new StudentTrainer(student, init.features, init.labels, init.config, adagradFactory(init.config.rowwiseAdagrad, (params) => accumOf.get(params), kernels), kernels) };
}

// kept between runs (HogwildTrainer's pool of threads): each run sends its arrays, and drops them when it ends
const { init: first } = workerData as { init: HogwildInit | null };
let run: Run | null = first ? setUp(first) : null;

port.on('message', (m: HogwildMessage) => {
  if (m.type === 'init') {
    run = setUp(m.init);
    return;
  }
  if (m.type === 'release') {
    run = null;
    return;
  }
  try {
    if (!run) throw new Error('a slice came after the run was released');
    const { init, trainer } = run;
    trainer.setPool(m.pool);
    trainer.setPositiveTeacherScores(m.positiveScores);
    trainer.seedSampling(m.seed);
    let last = performance.now();
    const progress = (done: number, _total: number, meanLoss: number): void => {
      const now = performance.now();
      if (now - last < PROGRESS_MS) return;
      last = now;
      port.postMessage({ type: 'progress', done, lossSum: meanLoss * done } satisfies HogwildReply);
    };
    const sums = trainer.trainSlice(init.order, m.s0, m.s1, m.epoch, progress, () => Atomics.load(init.stop, 0) !== 0);
    port.postMessage({ type: 'done', sums } satisfies HogwildReply);
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    const error = e instanceof NumericError ? 'numeric' : e instanceof CancelledError ? 'cancelled' : 'other';
    port.postMessage({ type: 'error', error, message: err.message, stack: err.stack } satisfies HogwildReply);
  }
});
