import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { ApiKeys } from '../api-keys.js';
import { ValidationError } from '../errors.js';
import auth, { streamTokenOf } from '../plugins/auth.js';
import { StreamTokens } from '../stream-tokens.js';
import streamTokens from './stream-tokens.js';
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
  const tokens = new StreamTokens(undefined, opts.jobs?.streamTokenTtlMs);
  await app.register(rateLimit, { keys, max: config.rateLimitMax, windowMs: config.rateLimitWindowMs });
  await app.register(auth, { keys, tokens });
  app.addHook('preValidation', async (request) => {
    const id = (request.params as { id?: unknown } | undefined)?.id;
    if (typeof id === 'string' && !UUID.test(id)) throw new ValidationError('params.id', 'must be a UUID');
  });
  await app.register(datasets);
  await app.register(teachers);
  // open event streams are capped per client, counted in the rate limiter's buckets (a stream
  // opened with a token counts against the key that asked for the token)
  const clientKey = (request: FastifyRequest): string => {
    const token = streamTokenOf(request);
    const check = token !== undefined && !request.headers.authorization ? tokens.check(token, (request.params as { id?: string }).id ?? '') : null;
    return check?.ok && check.keyId ? `key:${check.keyId}` : rateLimitKey(keys, request);
  };
  await app.register(jobs, { clientKey, ...opts.jobs });
  await app.register(streamTokens, { keys, tokens });
  await app.register(models);
};

export default v1;
