import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import auth from '../plugins/auth.js';
import datasets from './datasets.js';
import jobs, { type JobRouteOptions } from './jobs.js';
import models from './models.js';
import teachers from './teachers.js';

/** Everything under /v1: behind the API keys when there are any. */
const v1: FastifyPluginAsyncTypebox<{ jobs?: JobRouteOptions }> = async (app, opts) => {
  await app.register(auth, { apiKeys: app.serviceConfig.apiKeys });
  await app.register(datasets);
  await app.register(teachers);
  await app.register(jobs, opts.jobs ?? {});
  await app.register(models);
};

export default v1;
