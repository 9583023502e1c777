import fp from 'fastify-plugin';
import { loadModel } from '../../pipeline/model-dir.js';
import { NotFoundError } from '../errors.js';
import { ModelCache } from '../model-cache.js';

declare module 'fastify' {
  interface FastifyInstance {
    modelCache: ModelCache;
  }
}

/** Models for queries, loaded from the artifact store on first use (a new model needs no restart). */
export default fp<{ capacity: number }>(
  async (app, { capacity }) => {
    const cache = new ModelCache(async (id) => {
      const record = await app.repo.getModel(id);
      if (!record) throw new NotFoundError('model', id);
      return loadModel(app.store.pathOf(record.key));
    }, capacity);
    app.decorate('modelCache', cache);
    app.addHook('onClose', async () => cache.clear());
  },
  { name: 'model-cache', fastify: '5.x', dependencies: ['deps'] },
);
