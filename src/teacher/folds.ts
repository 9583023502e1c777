import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Csr } from '../core/data/csr.js';
import { UsageError } from '../core/util/errors.js';

/**
 * Cross-fitting: a teacher scores a training example well only if it did not see it. Scores a
 * teacher gives its own training points are near-memorised (Bibtex: P@1 0.96 on train against
 * 0.63 on test), so distilling them mostly repeats the labels. With K folds, the scores of an
 * example come from the fold model trained without it.
 */
export const FOLDS_FORMAT = 'distilxr-teacher-folds';

export interface FoldsManifest {
  format: typeof FOLDS_FORMAT;
  version: 1;
  folds: number;
  seed: number;
  trainPoints: number;
  /** sha256 of the training label matrix, so folds are only used with the data they were cut from. */
  labelsFingerprint: string;
  /** File names (beside the manifest) of the fold models; model k never saw fold k. */
  files: string[];
}

/** Fold of training row i: a seeded hash, so no table has to be stored. */
export function foldOf(row: number, folds: number, seed: number): number {
  // The exact mixing is part of the manifest format: fold models fitted earlier rely on it.
  let h = Math.imul(row ^ Math.imul(seed, 0x9e3779b1), 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) % folds;
}

export function labelsFingerprint(labels: Csr): string {
  const h = createHash('sha256');
  h.update(Buffer.from(labels.indptr.buffer, labels.indptr.byteOffset, labels.indptr.byteLength));
  h.update(Buffer.from(labels.indices.buffer, labels.indices.byteOffset, labels.indices.byteLength));
  return h.digest('hex');
}

/** Path of the manifest that goes with a teacher file. */
export function foldsManifestPath(teacherPath: string): string {
  return teacherPath.replace(/\.onnx$/i, '') + '.folds.json';
}

/**
 * The folds manifest beside a teacher file, or null when it has none. Messages name the manifest
 * by its file name only (they reach job errors, never a server path).
 */
export async function readFoldsManifest(teacherPath: string): Promise<FoldsManifest | null> {
  const path = foldsManifestPath(teacherPath);
  let manifest: FoldsManifest;
  try {
    manifest = JSON.parse(await readFile(path, 'utf8')) as FoldsManifest;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new UsageError(`the teacher's folds manifest ${basename(path)} is unreadable: ${(e as Error).message.replaceAll(path, basename(path))}`);
  }
  if (manifest.format !== FOLDS_FORMAT) throw new UsageError(`the teacher's folds manifest ${basename(path)} is not a ${FOLDS_FORMAT} manifest`);
  return manifest;
}

/**
 * Fold k of the manifest is blind to the rows hashed to k of the data it was cut from. On other
 * training data (another file, even of the same labels and size) the rows are other points: a
 * fold model may have seen them, so the folds do not apply.
 */
export function foldsFitData(manifest: FoldsManifest, trainLabels: Csr): boolean {
  return manifest.trainPoints === trainLabels.rows && manifest.labelsFingerprint === labelsFingerprint(trainLabels);
}
