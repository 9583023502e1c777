/**
 * A `distilxr worker` for the crash tests (test/faults-worker.test.ts) that SIGKILLs itself, for
 * stages too short to hit from outside (publishing takes milliseconds): with
 * DISTILXR_TEST_SIGKILL_AT_STAGE=`<jobId>:<stage>`, once that job's first attempt has entered the
 * stage and the stage event is stored. The hook is injected into the job runner here
 * (JobRunnerOptions.onPipelineEvent); the production worker reads no such switch.
 */
import { startClosingOnSignals } from '../../src/infra/signals.js';
import { runWorker } from '../../src/worker/main.js';

const [jobId, stage] = (process.env.DISTILXR_TEST_SIGKILL_AT_STAGE ?? '').split(':');

await startClosingOnSignals(
  () =>
    runWorker(process.env, undefined, {
      onPipelineEvent: (e, run) => {
        if (run.jobId !== jobId || run.attempt !== 1 || e.type !== 'stage' || e.stage !== stage) return;
        void run.flush().finally(() => process.kill(process.pid, 'SIGKILL'));
      },
    }),
  (worker) => worker.stop(),
  (line) => console.error(line),
  'distilxr worker',
);
