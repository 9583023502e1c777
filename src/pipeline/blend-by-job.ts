/**
 * An auto search that ran no trial (AutoTuneReport.blendByJob) leaves the neighbour blend to the
 * job: the job trains on every row but the held-out ones and chooses the blend on those, as a
 * trial would have, with the student it publishes.
 */
import { asPoints } from '../ann/neighbour-blend.js';
import type { Dataset } from '../core/data/dataset.js';
import type { StudentShape } from '../core/model/student.js';
import type { TrainConfig } from '../core/model/train-config.js';
import { subset, type AutoTuneReport } from './auto-tune.js';
import { blendText, type EncodedRows, type HeldOutBlend } from './blend-tuning.js';
import type { ProgressSink } from './progress.js';

/** The slices of a job that chooses its own neighbour blend (AutoTuneReport.blendByJob): the rows it trains on, and the held-out ones. */
export interface HeldOutByJob {
  fit: Dataset;
  heldOut: Dataset;
  /** Which rows of the job's training data each slice holds, in its order. */
  rows: { fit: readonly number[]; heldOut: readonly number[] };
}

export function heldOutSlices(train: Dataset, heldOutRows: readonly number[]): HeldOutByJob {
  const held = new Set(heldOutRows);
  const rest: number[] = [];
  for (let r = 0; r < train.features.rows; r++) if (!held.has(r)) rest.push(r);
  return { fit: subset(train, rest, 'training rows but the held-out ones'), heldOut: subset(train, heldOutRows, 'held-out rows'), rows: { fit: rest, heldOut: heldOutRows } };
}

/**
 * Every training row's point encoding (encodePoints of the whole training data), put together from the blend search's:
 * the fit rows' points as they are, the held-out rows' queries with the label-bias slot zeroed as encodePoints does.
 * Each row is encoded on its own, so this is what encoding them all again gives, bit for bit (apt-files: encoding its 237,888 rows again took 1.0–1.2 s).
 */
export function pointsOfRows(slices: HeldOutByJob, encoded: EncodedRows, { dim, labelBias }: Pick<StudentShape, 'dim' | 'labelBias'>): Float32Array {
  const { fit, heldOut } = slices.rows;
  const out = new Float32Array((fit.length + heldOut.length) * dim);
  for (let i = 0; i < fit.length; i++) out.set(encoded.points.subarray(i * dim, (i + 1) * dim), fit[i] * dim);
  for (let i = 0; i < heldOut.length; i++) out.set(encoded.queries.subarray(i * dim, (i + 1) * dim), heldOut[i] * dim);
  return asPoints(out, { dim, labelBias });
}

/**
 * The blend chosen on the held-out rows by an auto job that ran no trial: the job's configuration
 * and the search's report take it. `seconds`: what choosing took (the exact searches), for the log.
 */
export function chooseBlendByJob(blend: HeldOutBlend, auto: AutoTuneReport, result: { config: TrainConfig }, sink: ProgressSink, seconds: number): void {
  result.config = blend.config;
  const chosen = { neighbourWeight: blend.config.neighbourWeight, voteTemperature: blend.config.voteTemperature };
  auto.chosen = { ...auto.chosen, ...chosen };
  auto.blendByJob = { heldOutRows: blend.heldOutRows, p1: blend.choice.p1, tried: blend.choice.tried.map((t) => ({ neighbourWeight: t.settings.weight, voteTemperature: t.settings.voteTemperature, p1: t.p1 })) };
  sink.log(`auto: the job chose the neighbour blend on the ${blend.heldOutRows} held-out rows in ${seconds.toFixed(1)} s: ${blendText(blend.choice)}`);
  sink.log(`auto: chose ${JSON.stringify(auto.chosen)}`);
}
