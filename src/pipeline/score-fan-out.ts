/**
 * The scoring stage spread over workers: a teacher call with many pairs is cut into chunks whose
 * inputs go to the artifact store's volume; whoever runs the job asks for them to be scored (the
 * worker adds them as BullMQ children of the job, taken by any worker) and this side waits for
 * their outputs and puts the scores together in row order.
 *
 * Bit-identical to scoring in-process: ONNX Runtime's result for a row depends on the batch it
 * runs in (its padding and size), so chunks start at multiples of the batch size and each is
 * scored with the same batch size: every batch is the one the in-process call would run. A text
 * teacher batches a chunk's rows by length among themselves; its rows' outputs do not depend on
 * their batch (padding is masked out), which test/score-fan-out-text.test.ts checks byte for byte.
 * Chunks are named by the sha256 of the call's rows (which stands for the job's pool generation:
 * another pool has other pairs to score), so a resumed job finds the chunks an earlier run of it
 * had scored, and an output from other rows is never taken.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import type { Csr } from '../core/data/csr.js';
import { CancelledError, DistilxrError, type ErrorKind } from '../core/util/errors.js';
import { writeFileAtomically } from '../core/util/atomic-write.js';
import { DEFAULT_SCORE_BATCH, type CandidateScorer, type ScoreOptions } from '../teacher/onnx-teacher.js';
import { decodeChunkOutput, encodeChunkInput, readIfPresent, sha256Of } from './score-chunks.js';


/** A chunk to score: files `<name>.in` → `<name>.out` in the fan-out folder, by model `model`. */
export interface ChunkRequest {
  name: string;
  /** The ONNX file beside the job's teacher that scores it (the teacher's own, or a fold model's). */
  model: string;
}

/** Written as `<name>.failed` by whoever gives a chunk up; the waiting job fails with it. */
export interface ChunkFailure {
  message: string;
  kind: ErrorKind;
}

export interface ScoreFanOutSettings {
  /** The job's fan-out folder on the shared volume. */
  dir: string;
  /**
   * Work per chunk, in scored pairs (see ChunkWork for models whose work is not one unit a pair);
   * a call with less than twice this much is scored in-process.
   */
  shardPairs: number;
  /** How often the outputs are looked for. @defaultValue 100 */
  pollMs?: number;
}

export const chunkPaths = (dir: string, name: string) => ({
  input: join(dir, `${name}.in`),
  output: join(dir, `${name}.out`),
  failed: join(dir, `${name}.failed`),
});

/** Gives up a chunk for the job waiting on it (the worker's side, when a child fails for good). */
export async function writeChunkFailure(dir: string, name: string, failure: ChunkFailure): Promise<void> {
  await writeFileAtomically(chunkPaths(dir, name).failed, JSON.stringify(failure));
}

/**
 * What a model's work grows with, in units of one sparse candidate pair: each row (a logits model
 * computes every label's logit, whatever the row's candidates: its label count a row), or each
 * pair (a candidate scorer: 1; a cross-encoder runs its transformer per pair).
 */
export type ChunkWork = { perRow: number } | { perPair: number };

/** A transformer run (a text teacher's row, or a cross-encoder's pair), in candidate pairs: about a sparse teacher's pairs of the same time. */
export const TEXT_RUN_WORK = 1000;

/** The work of rows [start, end). */
const workOf = (cp: Int32Array, start: number, end: number, work: ChunkWork): number => ('perRow' in work ? (end - start) * work.perRow : (cp[end] - cp[start]) * work.perPair);

/**
 * Rows [start, end) of the call per chunk: about shardPairs of work each (see
 * ScoreFanOutSettings.shardPairs), starting on batch boundaries.
 */
export function planChunks(candidates: Csr, shardPairs: number, batch: number, work: ChunkWork = { perPair: 1 }): Array<[number, number]> {
  const rows = candidates.rows;
  const cp = candidates.indptr;
  const out: Array<[number, number]> = [];
  let start = 0;
  while (start < rows) {
    let end = Math.min(rows, start + batch);
    while (end < rows && workOf(cp, start, end, work) < shardPairs) end = Math.min(rows, end + batch);
    out.push([start, end]);
    start = end;
  }
  return out;
}

export class ScoreFanOut {
  private readonly pollMs: number;
  private warmed = false;

  /**
   * @param request asks for the chunks to be scored elsewhere (the worker adds BullMQ children);
   *   called again for the chunks still missing when a job resumes.
   * @param shouldStop polled while waiting: true stops the wait (CancelledError).
   * @param warm told the first model wrapped (the job's first chunks will use it), as soon as it is:
   *   workers can load it and the job's features while the job still mines, instead of in their
   *   first chunk (about a second on a mid-sized teacher, against a third of a second per chunk).
   */
  constructor(
    private readonly settings: ScoreFanOutSettings,
    private readonly request: (chunks: ChunkRequest[]) => void,
    private readonly shouldStop: () => boolean,
    private readonly warm: (model: string) => void = () => undefined,
  ) {
    if (!(Number.isInteger(settings.shardPairs) && settings.shardPairs > 0)) throw new RangeError(`shardPairs must be a positive integer, got ${settings.shardPairs}`);
    this.pollMs = settings.pollMs ?? 100;
  }

  /**
   * `inner` (the model `model`), fanning out calls of at least two chunks' work. `batchOf` gives
   * the batch `inner` really runs for a requested one, or for none (OnnxTeacher lowers it for logits
   * models): the chunks start on its multiples. `work`: what its work grows with.
   */
  wrap(inner: CandidateScorer, model: string, batchOf: (requested?: number) => number = (b) => b ?? DEFAULT_SCORE_BATCH, work: ChunkWork = { perPair: 1 }): CandidateScorer {
    if (!this.warmed) {
      this.warmed = true;
      this.warm(model);
    }
    return {
      scoreCandidates: (features, examples, candidates, opts) => {
        if (workOf(candidates.indptr, 0, candidates.rows, work) < 2 * this.settings.shardPairs) return inner.scoreCandidates(features, examples, candidates, opts);
        return this.scoreSpread(model, batchOf(opts?.batchSize), work, examples, candidates, opts);
      },
    };
  }

  private async scoreSpread(model: string, batch: number, work: ChunkWork, examples: Int32Array, candidates: Csr, opts: ScoreOptions = {}): Promise<Float32Array> {
    const base = candidates.indptr[0];
    const rebased = base === 0 ? candidates : { ...candidates, indptr: candidates.indptr.map((p) => p - base), indices: candidates.indices.subarray(base) };
    const ranges = planChunks(rebased, this.settings.shardPairs, batch, work);
    const inputs = ranges.map(([s, e]) => encodeChunkInput(examples, rebased, s, e, batch));
    const call = createHash('sha256');
    for (const b of inputs) call.update(b);
    const tag = `${model.replace(/[^A-Za-z0-9_-]/g, '_')}-${call.digest('hex').slice(0, 16)}`;
    const chunks = inputs.map((bytes, i) => ({ name: `${tag}-c${i}of${inputs.length}`, sha: sha256Of(bytes), bytes, range: ranges[i] }));

    const out = new Float32Array(rebased.indptr[rebased.rows]);
    // each chunk's scores into place, and told as a part (a cache stores them while later chunks are scored)
    const take = async (c: (typeof chunks)[number]): Promise<boolean> => {
      const scores = await this.outputOf(c, rebased);
      if (!scores) return false;
      out.set(scores, rebased.indptr[c.range[0]]);
      const [s, e] = c.range;
      opts.onScored?.(examples.subarray(s, e), { rows: e - s, cols: rebased.cols, indptr: rebased.indptr.subarray(s, e + 1), indices: rebased.indices, values: null }, scores);
      return true;
    };
    const pending = new Map<string, (typeof chunks)[number]>();
    for (const c of chunks) {
      const paths = chunkPaths(this.settings.dir, c.name);
      if (await take(c)) continue;
      await writeFileAtomically(paths.input, c.bytes);
      await rm(paths.failed, { force: true }); // an earlier run's failure: this run tries again
      pending.set(c.name, c);
      // asked for as soon as its input is there: workers score the first chunks while the job
      // writes the rest (bench:workers' 16 inputs, each flushed to disk: 0.14–0.23 s)
      this.request([{ name: c.name, model }]);
    }
    const total = rebased.rows;
    let rowsDone = total - [...pending.values()].reduce((n, c) => n + c.range[1] - c.range[0], 0);
    opts.onProgress?.(rowsDone, total);
    while (pending.size) {
      if (this.shouldStop()) throw new CancelledError(`stopped while ${pending.size} of ${chunks.length} score chunks were out`);
      await new Promise((r) => setTimeout(r, this.pollMs));
      for (const c of [...pending.values()]) {
        if (await take(c)) {
          pending.delete(c.name);
          rowsDone += c.range[1] - c.range[0];
          opts.onProgress?.(rowsDone, total);
          continue;
        }
        const failed = await readIfPresent(chunkPaths(this.settings.dir, c.name).failed);
        if (failed) {
          const f = JSON.parse(failed.toString('utf8')) as ChunkFailure;
          throw new DistilxrError(`score chunk ${c.name}: ${f.message}`, 'SCORE_CHUNK_FAILED', f.kind);
        }
      }
    }
    return out;
  }

  /** A finished chunk's scores; null when its output is not there (or stale). */
  private async outputOf(c: { name: string; sha: Buffer; range: [number, number] }, candidates: Csr): Promise<Float32Array | null> {
    const bytes = await readIfPresent(chunkPaths(this.settings.dir, c.name).output);
    const scores = bytes ? decodeChunkOutput(bytes, c.sha) : null;
    return scores && scores.length === candidates.indptr[c.range[1]] - candidates.indptr[c.range[0]] ? scores : null;
  }
}
