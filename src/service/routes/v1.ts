import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ApiKeys } from '../api-keys.js';
import { ValidationError } from '../errors.js';
import auth from '../plugins/auth.js';
import { UUID_PATTERN } from '../schemas/common.js';
import rateLimit, { rateLimitKey } from '../plugins/rate-limit.js';
import datasets from './datasets.js';
import jobs, { type JobRouteOptions } from './jobs.js';
import models from './models.js';
import teachers from './teachers.js';

const UUID = new RegExp(UUID_PATTERN);

/**
 * Everything under /v1: rate-limited, then behind the API keys when there are any (in that order,
 * so wrong keys are counted too); an `:id` in the path must be a UUID (400 otherwise).
 */
const v1: FastifyPluginAsyncTypebox<{ jobs?: JobRouteOptions }> = async (app, opts) => {
  const config = app.serviceConfig;
  const keys = new ApiKeys(config.apiKeys);
  await app.register(rateLimit, { keys, max: config.rateLimitMax, windowMs: config.rateLimitWindowMs });
  await app.register(auth, { keys });
  app.addHook('preValidation', async (request) => {
    const id = (request.params as { id?: unknown } | undefined)?.id;
    if (typeof id === 'string' && !UUID.test(id)) throw new ValidationError('params.id', 'must be a UUID');
  });
  await app.register(datasets);
  await app.register(teachers);
  // open event streams are capped per client, counted in the rate limiter's buckets
  await app.register(jobs, { clientKey: (request) => rateLimitKey(keys, request), ...opts.jobs });
  await app.register(models);
};

export default v1;
