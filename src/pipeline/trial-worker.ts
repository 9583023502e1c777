/**
 * One thread of a TrialPool: runs the auto trials it is sent, one at a time and on one thread,
 * on the slices it was started with, and keeps their score cache and first pools across them.
 */
import { parentPort } from 'node:worker_threads';
import { CancelledError, UsageError } from '../core/util/errors.js';
import { adoptTeacherFactors } from './teacher-init.js';
import { runTrainJob, trialJobInput, trialOutcome } from './train-job.js';
import { newTrialMemo, type TrialReply, type TrialRequest, type TrialSlices } from './trial-pool.js';

const port = parentPort!;
let slices: TrialSlices | null = null;
let stop: Int32Array = new Int32Array(1).fill(-1);
const memo = newTrialMemo();
const reply = (m: TrialReply): void => port.postMessage(m);

port.on('message', (m: TrialRequest) => {
  if (m.type === 'slices') {
    slices = m.slices;
    stop = m.stop;
    if (m.factors) adoptTeacherFactors(m.factors);
    return;
  }
  if (!slices) throw new Error('an auto trial came before its slices');
  const flag = stop;
  runTrainJob(trialJobInput(slices, m.config, memo, () => Atomics.load(flag, 0) === m.id)).then(
    (r) => reply({ type: 'done', id: m.id, outcome: trialOutcome(r) }),
    (e: unknown) => reply({ type: 'failed', id: m.id, message: e instanceof Error ? e.message : String(e), usage: e instanceof UsageError, cancelled: e instanceof CancelledError }),
  );
});
reply({ type: 'started' });
