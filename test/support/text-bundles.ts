/**
 * Text-teacher bundles and JSONL data stored the way the service keeps uploads (a bundle as its
 * archive, a dataset as its files with their stats), for the tests and bench:workers; and the
 * committed tiny bundles (test/fixtures/text-teachers) with the data they were trained on
 * (test/fixtures/text-mini).
 */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { create as tarCreate } from 'tar';
import { datasetStats } from '../../src/core/data/dataset.js';
import { loadTrainTest } from '../../src/core/data/load-dataset.js';
import type { ArtifactStore } from '../../src/infra/artifacts/artifact-store.js';
import type { Repository } from '../../src/infra/records.js';
import { parseManifest } from '../../src/teacher/text/bundle-manifest.js';
import { MANIFEST_FILE } from '../../src/teacher/text/text-bundle.js';
import { BUNDLE_ARCHIVE } from '../../src/teacher/text/stored-bundle.js';

export const BUNDLES = resolve('test/fixtures/text-teachers');
export const MINI = resolve('test/fixtures/text-mini');

/** A .tar of a bundle folder, its files under the folder's name (as `tar -cf b.tar NAME/` makes it). */
export async function tarOf(dir: string): Promise<Uint8Array> {
  const stream = tarCreate({ cwd: dirname(dir), portable: true }, [basename(dir)]) as unknown as Readable;
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** A JSONL train and test file's contents stored and registered as a dataset; returns its id. */
export async function addJsonlDataset(repo: Repository, store: ArtifactStore, train: Uint8Array, test: Uint8Array, name: string): Promise<string> {
  const id = randomUUID();
  const keys = { train: `datasets/${id}/train.jsonl`, test: `datasets/${id}/test.jsonl` };
  await store.putBytes(keys.train, train);
  await store.putBytes(keys.test, test);
  const data = await loadTrainTest(store.pathOf(keys.train), store.pathOf(keys.test), { cacheDir: false });
  await repo.createDataset({ id, name, format: 'jsonl', trainKey: keys.train, testKey: keys.test, stats: datasetStats(data.train), testStats: datasetStats(data.test!) });
  return id;
}

/** text-mini's train and test files as a stored dataset; returns its id. */
export async function addTextMini(repo: Repository, store: ArtifactStore): Promise<string> {
  return addJsonlDataset(repo, store, await readFile(join(MINI, 'train.jsonl')), await readFile(join(MINI, 'test.jsonl')), 'text-mini');
}

/** A bundle folder stored as an uploaded archive is, with its manifest's kind; returns the teacher's id. */
export async function addTextTeacher(repo: Repository, store: ArtifactStore, bundleDir: string): Promise<string> {
  const { kind } = parseManifest(await readFile(join(bundleDir, MANIFEST_FILE), 'utf8'), bundleDir);
  const id = randomUUID();
  const archive = await tarOf(bundleDir);
  const key = `teachers/${id}/${BUNDLE_ARCHIVE}`;
  await store.putBytes(key, archive);
  await repo.createTeacher({ id, name: `${basename(bundleDir)}.tar`, key, kind, numLabels: null, sizeBytes: archive.length, jobId: null, datasetId: null, metrics: null });
  return id;
}
