/**
 * Label names of a dataset, stored beside its files as `labels` (one name per line): from the
 * optional names file of an XC upload, or the string labels of a JSONL file. Absent when the
 * labels are bare ids. The API reads them to match a teacher to a dataset; the worker to name the
 * labels of the model it publishes.
 */
import { posix } from 'node:path';
import { readLabelNames } from '../../core/data/label-names.js';
import type { ArtifactStore } from './artifact-store.js';
import type { DatasetRecord } from '../records.js';

/** File name of the names in a dataset's (staged or committed) group. */
export const LABEL_NAMES_FILE = 'labels';

export function labelNamesKey(d: Pick<DatasetRecord, 'trainKey'>): string {
  return posix.join(posix.dirname(d.trainKey), LABEL_NAMES_FILE);
}

/** The dataset's label names by id, or null when it has none. */
export async function storedLabelNames(store: ArtifactStore, d: Pick<DatasetRecord, 'trainKey' | 'stats'>): Promise<string[] | null> {
  const key = labelNamesKey(d);
  if (!(await store.exists(key))) return null;
  return readLabelNames(store.pathOf(key), d.stats.labels);
}
