import type { Csr } from './csr.js';
import type { LabelFrequencyPoint } from './label-frequency.js';

/**
 * Largest label and feature counts a dataset may declare. Far above public XC benchmarks (3M
 * labels, 2^24 hashed features) and small enough that per-label or per-feature arrays built from
 * an untrusted header or id (stats, label tables) cannot exhaust memory.
 */
export const MAX_LABELS = 1 << 24;
export const MAX_FEATURES = 1 << 26;

/** A multi-label dataset: sparse features and label sets, one row per point. */
export interface Dataset {
  features: Csr; // [points, numFeatures], values present
  labels: Csr; // [points, numLabels], values null
  /** Where it came from (file path), for messages. */
  source: string;
  /** Label names by id when the input had string labels (JSONL) or a names file. */
  labelNames?: string[];
}

export interface DatasetStats {
  points: number;
  features: number;
  labels: number;
  labelsPerPoint: number;
  pointsPerLabel: number;
  nnzPerPoint: number;
  /** Set by the service at upload (labelFrequencyProfile), for the dashboard. */
  labelFrequency?: LabelFrequencyPoint[];
}

export function datasetStats(d: Dataset): DatasetStats {
  const points = d.features.rows;
  const labelNnz = d.labels.indptr[d.labels.rows];
  const featureNnz = d.features.indptr[d.features.rows];
  const used = new Uint8Array(d.labels.cols);
  for (let p = 0; p < labelNnz; p++) used[d.labels.indices[p]] = 1;
  let usedLabels = 0;
  for (let l = 0; l < used.length; l++) usedLabels += used[l];
  return {
    points,
    features: d.features.cols,
    labels: d.labels.cols,
    labelsPerPoint: points ? labelNnz / points : 0,
    pointsPerLabel: usedLabels ? labelNnz / usedLabels : 0,
    nnzPerPoint: points ? featureNnz / points : 0,
  };
}
