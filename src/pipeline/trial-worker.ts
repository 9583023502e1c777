/**
 * One thread of a TrialPool: runs the auto trials it is sent, one at a time and on one thread,
 * on the slices it was started with, and keeps their score cache and first pools across them; it
 * may make the first pool and its scores for every thread (trial-prepare.ts) or take another's.
 */
import { parentPort } from 'node:worker_threads';
import { CancelledError, UsageError } from '../core/util/errors.js';
import { adoptTeacherFactors } from './teacher-init.js';
import { runTrainJob, trialJobInput, trialOutcome } from './train-job.js';
import { newTrialMemo, type TrialReply, type TrialRequest, type TrialSlices } from './trial-pool.js';
import { adoptFirstPool, prepareFirstPool } from './trial-prepare.js';

const port = parentPort!;
let slices: TrialSlices | null = null;
let stop: Int32Array = new Int32Array(1).fill(-1);
const memo = newTrialMemo();
const reply = (m: TrialReply): void => port.postMessage(m);
const failed = (id: number, e: unknown): TrialReply => ({ type: 'failed', id, message: e instanceof Error ? e.message : String(e), usage: e instanceof UsageError, cancelled: e instanceof CancelledError });

port.on('message', (m: TrialRequest) => {
  if (m.type === 'slices') {
    slices = m.slices;
    stop = m.stop;
    return;
  }
  if (m.type === 'factors') {
    if (m.factors) adoptTeacherFactors(m.factors);
    return;
  }
  if (m.type === 'adopt') {
    adoptFirstPool(memo, m.prepared);
    return;
  }
  if (!slices) throw new Error(`an auto ${m.type} came before its slices`);
  const id = m.id;
  if (m.type === 'prepare') {
    prepareFirstPool(slices, m.config, memo).then(
      (prepared) => reply({ type: 'prepared', id, prepared }),
      (e: unknown) => reply(failed(id, e)),
    );
    return;
  }
  const flag = stop;
  runTrainJob(trialJobInput(slices, m.config, memo, () => Atomics.load(flag, 0) === id)).then(
    (r) => reply({ type: 'done', id, outcome: trialOutcome(r) }),
    (e: unknown) => reply(failed(id, e)),
  );
});
reply({ type: 'started' });
