/**
 * The child's side of a job's scoring fan-out: the scores queue's processor. Any worker takes a
 * chunk, scores it in one of its chunk threads and writes its output to the shared volume; a chunk
 * whose output is there already (a retry after the output was written) is not scored again, and a
 * chunk of a job that has ended is skipped. A worker killed while it holds a chunk loses its lock;
 * BullMQ's stalled-job check gives the chunk alone to another worker.
 */
import { basename, dirname, join } from 'node:path';
import { UnrecoverableError, type Job } from 'bullmq';
import { chunkPaths, writeChunkFailure } from '../pipeline/score-fan-out.js';
import { scoreChunksKey } from '../infra/artifacts/artifact-keys.js';
import type { ArtifactStore } from '../infra/artifacts/artifact-store.js';
import { FINAL_JOB_STATUSES, type JobRecord, type Repository } from '../infra/records.js';
import { chunkScoringInputsOf } from './job-task.js';
import type { ScoreChunkJob } from './score-children.js';
import type { ChunkSource, ChunkThreadInput, ChunkThreadPool } from './chunk-thread-pool.js';

/** warm: the chunk found its features and model loaded (or loading) in its thread. */
export type ChunkOutcome = { pairs: number; warm: boolean } | { skipped: string };

export interface ScoreChunkDeps {
  repo: Repository;
  store: ArtifactStore;
  cacheDir: string | false;
  /** ONNX Runtime intra-op threads. @defaultValue 1 */
  teacherThreads?: number;
  /** The threads that score the chunks. */
  threads: ChunkThreadPool;
}

const isModelName = (model: string): boolean => basename(model) === model && model !== '..' && model !== '.';

/** What a chunk thread loads to score job `rec`'s chunks with `model`. */
async function chunkSourceOf(deps: ScoreChunkDeps, rec: JobRecord, model: string): Promise<ChunkSource> {
  const inputs = await chunkScoringInputsOf(rec, deps.repo, deps.store);
  return {
    trainPath: inputs.trainPath,
    ...(inputs.featurizer ? { featurizer: inputs.featurizer } : {}),
    cacheDir: deps.cacheDir,
    modelPath: join(dirname(inputs.teacherPath), model),
    ...(inputs.text ? { text: true } : {}),
    ...(deps.teacherThreads ? { teacherThreads: deps.teacherThreads } : {}),
  };
}

/**
 * Loads job `jobId`'s features and `model` into an idle chunk thread ahead of its chunks (the
 * job's warm-up hint, ScoreChildren.warm). Does nothing when every thread is busy or the job ended.
 */
export function scoreChunkWarmer(deps: ScoreChunkDeps): (jobId: string, model: string) => Promise<void> {
  return async (jobId, model) => {
    if (!isModelName(model)) return;
    const rec = await deps.repo.getJob(jobId);
    if (!rec || FINAL_JOB_STATUSES.has(rec.status)) return;
    deps.threads.warm(await chunkSourceOf(deps, rec, model));
  };
}

/** The scores queue's processor. Declare all three parameters at the call site, or BullMQ passes no signal. */
export function scoreChunkProcessor(deps: ScoreChunkDeps): (job: Job<ScoreChunkJob>, token?: string, signal?: AbortSignal) => Promise<ChunkOutcome> {
  return async (job, _token, signal) => {
    const { jobId, name, model } = job.data;
    const rec = await deps.repo.getJob(jobId);
    if (!rec || FINAL_JOB_STATUSES.has(rec.status)) return { skipped: `job ${jobId} is ${rec?.status ?? 'gone'}` };
    const dir = deps.store.pathOf(scoreChunksKey(jobId));
    // the model is a file beside the teacher, named by the job's own pipeline: never a path
    if (!isModelName(model)) throw new UnrecoverableError(`score chunk ${name}: bad model name "${model}"`);
    const paths = chunkPaths(dir, name);
    const input: ChunkThreadInput = { ...(await chunkSourceOf(deps, rec, model)), inPath: paths.input, outPath: paths.output };
    const m = await deps.threads.run(input, signal);
    const now = await deps.repo.getJob(jobId);
    if (!now || FINAL_JOB_STATUSES.has(now.status)) {
      // it ended while this chunk ran (cancelled, say) and its files went: this output is left over
      await deps.store.remove(scoreChunksKey(jobId));
      return { skipped: `job ${jobId} ended while its chunk ran` };
    }
    if (m.type === 'done') return { pairs: m.pairs, warm: m.warm };
    if (m.permanent) {
      // the job fails with it at once: no retry of the chunk can pass
      await writeChunkFailure(dir, name, { message: m.message, kind: 'permanent' });
      throw new UnrecoverableError(m.message);
    }
    throw new Error(`${m.name}: ${m.message}`);
  };
}
