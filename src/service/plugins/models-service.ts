/**
 * Trained models: records, top-k queries through the model cache (shared code with the CLI:
 * pipeline/query.ts), and downloads of the files of a model directory on a fixed allow-list.
 */
import fp from 'fastify-plugin';
import { stat } from 'node:fs/promises';
import { UsageError } from '../../core/util/errors.js';
import { encodeQueryInput, searchModel, type QueryHit, type QueryInput, type SparseQuery } from '../../pipeline/query.js';
import type { ArtifactStore } from '../../infra/artifacts/artifact-store.js';
import { BadRequestError, NotFoundError, ValidationError } from '../errors.js';
import { listPage, type Page } from '../list-page.js';
import type { ModelCache } from '../model-cache.js';
import type { ModelRecord, Repository } from '../../infra/records.js';
import { DOWNLOADABLE_FILES, type QueryBody } from '../schemas/models.js';

declare module 'fastify' {
  interface FastifyInstance {
    models: ModelService;
  }
}

export class ModelService {
  constructor(
    private readonly repo: Repository,
    private readonly store: ArtifactStore,
    private readonly cache: ModelCache,
  ) {}

  async get(id: string): Promise<ModelRecord> {
    const m = await this.repo.getModel(id);
    if (!m) throw new NotFoundError('model', id);
    return m;
  }

  list(limit: number, cursor?: string): Promise<Page<ModelRecord>> {
    return listPage((opts) => this.repo.listModels(opts), limit, cursor);
  }

  /**
   * Row first (new queries 404 from then on), then the loaded copy, then the files: a crash in
   * between leaves files no row points to, never a model whose files are gone.
   */
  async delete(id: string): Promise<void> {
    const m = await this.repo.deleteModel(id);
    if (!m) throw new NotFoundError('model', id);
    this.cache.delete(id);
    await this.store.remove(m.key);
  }

  /** Names of the allow-listed files present in the model's directory. */
  async files(m: ModelRecord): Promise<string[]> {
    const present = await Promise.all(DOWNLOADABLE_FILES.map((f) => this.store.exists(`${m.key}/${f}`)));
    return DOWNLOADABLE_FILES.filter((_, i) => present[i]);
  }

  /**
   * Local path and size of one downloadable file. The name must be on the allow-list, checked before
   * anything else (so no separator, "..", backslash, NUL or absolute path ever reaches a path:
   * 400), and present in the model's directory (404 otherwise).
   */
  async file(id: string, name: string): Promise<{ path: string; size: number }> {
    if (!DOWNLOADABLE_FILES.includes(name)) throw new ValidationError('params.name', `must be one of ${DOWNLOADABLE_FILES.join(', ')}`);
    const m = await this.get(id);
    const path = this.store.pathOf(`${m.key}/${name}`);
    // one stat answers both "present?" and the Content-Length
    const found = await stat(path).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return null;
      throw e;
    });
    if (!found) throw new NotFoundError(`file of model "${id}"`, name);
    return { path, size: found.size };
  }

  async query(id: string, body: QueryBody): Promise<QueryHit[][]> {
    // a cached model answers without touching the database (published models never change);
    // a first load reads the record and 404s for an unknown id
    const model = await this.cache.get(id);
    const vectors: SparseQuery[] = body.queries.map((q, i) => {
      const hasText = q.text !== undefined;
      const hasFeatures = q.features !== undefined;
      if (hasText === hasFeatures) throw new BadRequestError(`queries[${i}] must have exactly one of "text" or "features"`);
      const input: QueryInput = hasText ? { text: q.text! } : { features: q.features! };
      try {
        return encodeQueryInput(model, input);
      } catch (e) {
        if (e instanceof UsageError) throw new BadRequestError(`queries[${i}]: ${e.message}`);
        throw e;
      }
    });
    return searchModel(model, vectors, body.k ?? 5, { exact: body.exact ?? false });
  }
}

export default fp(
  async (app) => {
    app.decorate('models', new ModelService(app.repo, app.store, app.modelCache));
  },
  { name: 'models-service', fastify: '5.x', dependencies: ['deps', 'model-cache'] },
);
