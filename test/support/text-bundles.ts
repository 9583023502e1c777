/**
 * The committed tiny text-teacher bundles (test/fixtures/text-teachers) and the JSONL data they
 * were trained on (test/fixtures/text-mini), as archives and store records the way the service
 * keeps them.
 */
import { randomUUID } from 'node:crypto';
import { copyFile, mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { create as tarCreate } from 'tar';
import { datasetStats } from '../../src/core/data/dataset.js';
import { loadTrainTest } from '../../src/core/data/load-dataset.js';
import type { ArtifactStore } from '../../src/infra/artifacts/artifact-store.js';
import type { Repository } from '../../src/infra/records.js';
import { BUNDLE_ARCHIVE } from '../../src/teacher/text/stored-bundle.js';

export const BUNDLES = resolve('test/fixtures/text-teachers');
export const MINI = resolve('test/fixtures/text-mini');

/** A .tar of the bundle folder, as `tar -cf b.tar KIND/` makes it (files under one folder). */
export async function tarOf(kind: string): Promise<Uint8Array> {
  const stream = tarCreate({ cwd: BUNDLES, portable: true }, [kind]) as unknown as Readable;
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** text-mini's train and test files as a stored JSONL dataset; returns its id. */
export async function addTextMini(repo: Repository, store: ArtifactStore): Promise<string> {
  const id = randomUUID();
  for (const f of ['train.jsonl', 'test.jsonl']) {
    const to = store.pathOf(`datasets/${id}/${f}`);
    await mkdir(dirname(to), { recursive: true });
    await copyFile(join(MINI, f), to);
  }
  const data = await loadTrainTest(join(MINI, 'train.jsonl'), join(MINI, 'test.jsonl'), { cacheDir: false });
  await repo.createDataset({ id, name: 'text-mini', format: 'jsonl', trainKey: `datasets/${id}/train.jsonl`, testKey: `datasets/${id}/test.jsonl`, stats: datasetStats(data.train), testStats: datasetStats(data.test!) });
  return id;
}

/** A committed bundle stored as an uploaded archive is; returns the teacher's id. */
export async function addTextTeacher(repo: Repository, store: ArtifactStore, kind: 'classifier' | 'cross-encoder' | 'bi-encoder'): Promise<string> {
  const id = randomUUID();
  const archive = await tarOf(kind);
  const key = `teachers/${id}/${BUNDLE_ARCHIVE}`;
  await store.putBytes(key, archive);
  await repo.createTeacher({ id, name: `${kind}.tar`, key, kind, numLabels: null, sizeBytes: archive.length, jobId: null, datasetId: null, metrics: null });
  return id;
}
