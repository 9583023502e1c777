import { open, readFile, rm, type FileHandle } from 'node:fs/promises';
import { DataFormatError } from '../core/util/errors.js';
import { decodeSafetensors, encodeSafetensorsParts, tensorOf, type Tensor } from '../core/model/safetensors.js';
import type { Student } from '../core/model/student.js';
import type { TrainConfig } from '../core/model/train-config.js';
import type { EpochStats, NegativePool, StudentTrainer } from '../core/model/trainer.js';
import { TeacherScoreCache } from '../teacher/score-cache.js';
import { writeFileAtomically } from '../core/util/atomic-write.js';

/** Where a job keeps its resumable state: one blob, replaced atomically. */
export interface CheckpointStore {
  load(): Promise<Uint8Array | null>;
  /** The blob as parts written one after the other (encodeTrainState). */
  save(parts: readonly Uint8Array[]): Promise<void>;
}

/** A checkpoint file on a local disk or a volume shared by workers (temp file, then rename). */
export class FileCheckpointStore implements CheckpointStore {
  constructor(readonly path: string) {}

  async load(): Promise<Uint8Array | null> {
    try {
      return await readFile(this.path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
  }

  save(parts: readonly Uint8Array[]): Promise<void> {
    return writeFileAtomically(this.path, parts);
  }

  async clear(): Promise<void> {
    await rm(this.path, { force: true });
  }
}

export interface TrainState {
  config: TrainConfig;
  /** One per epoch trained, in order: epochs.length epochs are done. */
  epochs: EpochStats[];
  pairsScored: number;
  /** The epoch the current pool was mined before (1 = the first pool). */
  poolMinedForEpoch: number;
  pool: NegativePool | null;
  /** False between mining a pool and the teacher scoring it (a resumed job scores it first). */
  poolScored: boolean;
  positiveScores: Float32Array | null;
  cache: TeacherScoreCache | null;
  /**
   * What every teacher score above (cache, pool, positives) was divided by: the teacher's
   * calibration temperature, or 1 for raw scores. A resumed job must not mix the two.
   */
  appliedTemperature: number;
}

/** What a checkpoint says about a job's progress, without its tensors. */
export type CheckpointSummary = Pick<TrainState, 'config' | 'epochs' | 'pairsScored' | 'poolMinedForEpoch' | 'poolScored'> & { epochsDone: number };

/** Reads only the header of the checkpoint at `path` (it can be large); null when there is none. */
export async function readCheckpointSummary(path: string): Promise<CheckpointSummary | null> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  try {
    const len = Buffer.alloc(8);
    if ((await fh.read(len, 0, 8, 0)).bytesRead < 8) throw new DataFormatError(path, 1, 'file shorter than its 8-byte header length');
    const header = Buffer.alloc(Number(len.readBigUInt64LE(0)));
    if ((await fh.read(header, 0, header.length, 8)).bytesRead < header.length) throw new DataFormatError(path, 1, 'header length exceeds the file');
    const state = (JSON.parse(header.toString('utf8')) as { __metadata__?: { state?: string } }).__metadata__?.state;
    if (!state) throw new DataFormatError(path, 1, 'no training state in the header');
    const meta = JSON.parse(state) as CheckpointSummary & { poolScored?: boolean };
    return { config: meta.config, epochsDone: meta.epochsDone, epochs: meta.epochs, pairsScored: meta.pairsScored, poolMinedForEpoch: meta.poolMinedForEpoch, poolScored: meta.poolScored ?? true };
  } finally {
    await fh.close();
  }
}

/**
 * Everything a resumed job needs to continue exactly where it stopped, as the parts of one
 * safetensors blob. What training changes (parameters, accumulators, sampling state) is copied; the
 * rest (pool, its scores, the positives' scores, the cache's snapshot) is only replaced, never
 * changed in place, so it is written from where it is: a save may still be writing while the next
 * epoch trains (PoolTraining), and a copy of it all cost 0.4 s of bench:workers' 6.8 s scoring stage.
 */
export function encodeTrainState(s: TrainState, student: Student, trainer: StudentTrainer): Uint8Array[] {
  const opt = trainer.optimizerState();
  const st = trainer.exportState();
  const tensors: Record<string, Tensor> = {
    W1: { shape: [student.W1.length], data: student.W1.slice() },
    V: { shape: [student.V.length], data: student.V.slice() },
    accum_W1: { shape: [opt.w1.length], data: opt.w1.slice() },
    accum_V: { shape: [opt.v.length], data: opt.v.slice() },
    rng: { shape: [4], data: st.rng.slice() },
    order: { shape: [st.order.length], data: st.order.slice() },
  };
  if (s.pool) {
    tensors.pool_labels = { shape: [s.pool.labels.length], data: s.pool.labels };
    if (s.pool.teacherScores) tensors.pool_scores = { shape: [s.pool.teacherScores.length], data: s.pool.teacherScores };
  }
  if (s.positiveScores) tensors.positive_scores = { shape: [s.positiveScores.length], data: s.positiveScores };
  if (s.cache) {
    const bytes = s.cache.serialize();
    tensors.score_cache = { shape: [bytes.length], data: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length) };
  }
  const meta = {
    config: s.config,
    epochsDone: s.epochs.length,
    epochs: s.epochs,
    pairsScored: s.pairsScored,
    poolMinedForEpoch: s.poolMinedForEpoch,
    poolScored: s.poolScored,
    poolSize: s.pool?.size ?? null,
    appliedTemperature: s.appliedTemperature,
  };
  return encodeSafetensorsParts(tensors, { state: JSON.stringify(meta) });
}

/**
 * The settings a checkpoint must share with the run that resumes it: all but the thread count, the
 * SIMD kernels' switches and teacherWeights, which change how the next steps run (the last two only
 * by float rounding), not what the checkpoint holds (checkpoints written before the settings
 * existed have none of them).
 */
function resumeKey(config: Partial<TrainConfig>): Partial<TrainConfig> {
  const { threads: _, simdKernels: __, teacherWeights: ___, batchedKernels: ____, ...rest } = config;
  return rest;
}

/** Whether a run with `config` resumes from a checkpoint saved with `saved` (resumeKey). */
export function resumesFrom(saved: Partial<TrainConfig>, config: Partial<TrainConfig>): boolean {
  return JSON.stringify(resumeKey(saved)) === JSON.stringify(resumeKey(config));
}

/**
 * Restores student parameters, optimizer and sampling state from a checkpoint. Returns null when
 * the checkpoint was made with other settings, or with teacher scores divided by another
 * temperature (it is then ignored, not half-applied).
 */
export function restoreTrainState(
  bytes: Uint8Array,
  expected: Pick<TrainState, 'config' | 'appliedTemperature'>,
  student: Student,
  trainer: StudentTrainer,
  source = 'checkpoint',
): TrainState | null {
  const { config, appliedTemperature } = expected;
  const { tensors, metadata } = decodeSafetensors(bytes, source);
  type Meta = Omit<TrainState, 'pool' | 'positiveScores' | 'cache' | 'poolScored' | 'appliedTemperature'> & { poolSize: number | null; poolScored?: boolean; appliedTemperature?: number };
  const meta = JSON.parse(metadata.state) as Meta;
  if (!resumesFrom(meta.config, config)) return null;
  // checkpoints written before calibration existed hold raw scores
  if ((meta.appliedTemperature ?? 1) !== appliedTemperature) return null;
  const f32 = (name: string): Float32Array => tensorOf(tensors, name, Float32Array, source);
  student.W1.set(f32('W1'));
  student.V.set(f32('V'));
  const opt = trainer.optimizerState();
  opt.w1.set(f32('accum_W1'));
  opt.v.set(f32('accum_V'));
  trainer.importState({ rng: tensorOf(tensors, 'rng', Int32Array, source), order: tensorOf(tensors, 'order', Int32Array, source) });
  const pool: NegativePool | null =
    meta.poolSize !== null ? { size: meta.poolSize, labels: tensorOf(tensors, 'pool_labels', Int32Array, source), teacherScores: tensors.pool_scores ? f32('pool_scores') : null } : null;
  return {
    config,
    epochs: meta.epochs,
    pairsScored: meta.pairsScored,
    poolMinedForEpoch: meta.poolMinedForEpoch,
    pool,
    // checkpoints written before this flag existed were only taken after scoring
    poolScored: meta.poolScored ?? true,
    positiveScores: tensors.positive_scores ? f32('positive_scores') : null,
    cache: tensors.score_cache ? TeacherScoreCache.deserialize(tensorOf(tensors, 'score_cache', Uint8Array, source)) : null,
    appliedTemperature,
  };
}
