/**
 * Dataset uploads (train, optional test, optional label names): files are streamed into a staging area of the store, parsed in full (the same
 * loader the workers use) so a bad file is refused at once with `field:line: problem`, then moved
 * to `datasets/<id>/` in one rename and recorded with their sha256 (checked before a job reads
 * them). A refused upload, or a process killed mid-upload, leaves nothing behind: no files under
 * `datasets/`, no row. Deleting marks the row first and removes the files after, so a crash in
 * between leaves files no row points to, never a row whose files are gone.
 */
import type { Multipart } from '@fastify/multipart';
import fp from 'fastify-plugin';
import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { cachePathFor } from '../../core/data/binary-cache.js';
import { datasetStats } from '../../core/data/dataset.js';
import { labelFrequencyProfile } from '../../core/data/label-frequency.js';
import { DataFormatError, UsageError } from '../../core/util/errors.js';
import { fitsNamesFile, labelNamesText, readLabelNames } from '../../core/data/label-names.js';
import { loadTrainTest } from '../../core/data/load-dataset.js';
import { LABEL_NAMES_FILE } from '../../infra/artifacts/dataset-label-names.js';
import type { ArtifactStore } from '../../infra/artifacts/artifact-store.js';
import { datasetPrefix, XC_CACHE_KEY } from '../../infra/artifacts/artifact-keys.js';
import { BadRequestError, ConflictError, NotFoundError } from '../errors.js';
import { listPage, type Page } from '../list-page.js';
import type { DatasetRecord, Repository } from '../../infra/records.js';
import { receiveUpload, stagedUpload } from './uploads.js';

declare module 'fastify' {
  interface FastifyInstance {
    datasets: DatasetService;
  }
}

export class DatasetService {
  constructor(
    private readonly repo: Repository,
    private readonly store: ArtifactStore,
    private readonly maxUploadBytes: number,
  ) {}

  async upload(parts: AsyncIterable<Multipart>): Promise<DatasetRecord> {
    const id = randomUUID();
    const prefix = datasetPrefix(id);
    return stagedUpload(this.store, prefix, async (staged, commit) => {
      const { files, fields } = await receiveUpload(parts, staged, {
        files: { train: 'train', test: 'test', labels: LABEL_NAMES_FILE },
        required: ['train'],
        fields: { name: 200 },
        maxBytes: this.maxUploadBytes,
      });
      const paths: Record<string, string> = { [staged.pathOf(files.train.name)]: 'train' };
      if (files.test) paths[staged.pathOf(files.test.name)] = 'test';
      if (files.labels) paths[staged.pathOf(files.labels.name)] = 'labels';
      const trainPath = staged.pathOf(files.train.name);
      const testPath = files.test ? staged.pathOf(files.test.name) : undefined;
      let data: Awaited<ReturnType<typeof loadTrainTest>>;
      try {
        data = await loadTrainTest(trainPath, testPath, { cacheDir: false });
        if (files.labels) {
          if (data.featurizer) throw new BadRequestError('field "labels" applies to XC datasets: the labels of a JSONL file are named in the file itself');
          await readLabelNames(staged.pathOf(files.labels.name), data.train.labels.cols);
        }
      } catch (e) {
        throw withFieldNames(e, paths);
      }
      const format = data.featurizer ? 'jsonl' : 'xc';
      // string labels of a JSONL file: stored like a names file, so datasets compare by name
      if (data.labelMap?.kind === 'string' && data.labelMap.names && fitsNamesFile(data.labelMap.names)) await staged.putStream(LABEL_NAMES_FILE, Readable.from([labelNamesText(data.labelMap.names)]));
      await commit();
      return this.repo.createDataset({
        id,
        name: (fields.name?.trim() || files.train.filename || `dataset-${id.slice(0, 8)}`).slice(0, 200),
        format,
        trainKey: `${prefix}/${files.train.name}`,
        testKey: files.test ? `${prefix}/${files.test.name}` : null,
        trainSha256: files.train.sha256,
        testSha256: files.test?.sha256 ?? null,
        // the profile feeds the dashboard's label-frequency plot
        stats: { ...datasetStats(data.train), labelFrequency: labelFrequencyProfile(data.train.labels) },
        testStats: data.test ? datasetStats(data.test) : null,
      });
    });
  }

  async get(id: string): Promise<DatasetRecord> {
    const d = await this.repo.getDataset(id);
    if (!d) throw new NotFoundError('dataset', id);
    return d;
  }

  list(limit: number, cursor?: string): Promise<Page<DatasetRecord>> {
    return listPage((opts) => this.repo.listDatasets(opts), limit, cursor);
  }

  /** 409 while a queued or running job uses the dataset; jobs and models that name it keep working. */
  async delete(id: string): Promise<void> {
    const outcome = await this.repo.deleteDataset(id);
    if (outcome.status === 'not-found') throw new NotFoundError('dataset', id);
    if (outcome.status === 'in-use') throw new ConflictError(inUseMessage(`dataset "${id}"`, outcome.jobIds));
    const d = outcome.record;
    const keys = [d.trainKey, ...(d.testKey ? [d.testKey] : [])];
    // the parsed copies the workers keep in the store's cache are named after the files' state
    for (const key of keys) {
      const cached = await cachePathFor(this.store.pathOf(key), this.store.pathOf(XC_CACHE_KEY)).catch(() => null);
      if (cached) await rm(cached, { force: true });
    }
    for (const key of keys) await this.store.remove(key);
    await this.store.remove(datasetPrefix(id));
  }
}

/** A 409 message naming the unfinished jobs that still use a dataset or teacher. */
export function inUseMessage(what: string, jobIds: readonly string[]): string {
  const jobs = jobIds.map((j) => `"${j}"`).join(', ');
  return `${what} is used by queued or running job${jobIds.length > 1 ? 's' : ''} ${jobs}: cancel ${jobIds.length > 1 ? 'them' : 'it'} or wait until ${jobIds.length > 1 ? 'they finish' : 'it finishes'}, then delete again`;
}

/** Messages name the upload field ("train:12: ..."), never the server's file paths. */
function withFieldNames(e: unknown, paths: Readonly<Record<string, string>>): unknown {
  if (e instanceof DataFormatError) return new DataFormatError(paths[e.file] ?? 'upload', e.line, replacePaths(e.problem, paths));
  if (e instanceof UsageError) return new UsageError(replacePaths(e.message, paths));
  return e;
}

function replacePaths(message: string, paths: Readonly<Record<string, string>>): string {
  let out = message;
  for (const [path, field] of Object.entries(paths)) out = out.split(path).join(field);
  return out;
}

export default fp(
  async (app) => {
    app.decorate('datasets', new DatasetService(app.repo, app.store, app.serviceConfig.maxUploadBytes));
  },
  { name: 'datasets-service', fastify: '5.x', dependencies: ['deps'] },
);
