/**
 * The HTTP API as a fastify plugin plus `buildApp`, which wraps it in an instance that never
 * listens (server.ts listens; tests call `app.inject`). The caller owns the repository, store and
 * queue: it created them and closes them after `app.close()`.
 */
import { TypeBoxValidatorCompiler, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { randomUUID } from 'node:crypto';
import cors from './plugins/cors.js';
import dashboard from './plugins/dashboard.js';
import deps, { type ServiceDeps } from './plugins/deps.js';
import docs from './plugins/docs.js';
import errorHandler from './plugins/error-handler.js';
import datasetsService from './plugins/datasets-service.js';
import jobsService from './plugins/jobs-service.js';
import metrics from './plugins/metrics.js';
import modelCache from './plugins/model-cache.js';
import modelsService from './plugins/models-service.js';
import multipart from './plugins/multipart.js';
import securityHeaders from './plugins/security-headers.js';
import teachersService from './plugins/teachers-service.js';
import health from './routes/health.js';
import type { JobRouteOptions } from './routes/jobs.js';
import v1 from './routes/v1.js';
import { redactTokenInUrl } from './stream-tokens.js';

export interface AppOptions extends ServiceDeps {
  /** Models kept loaded for queries (LRU). @defaultValue 4 */
  modelCacheSize?: number;
  /** Event stream timing (tests shorten it). */
  sse?: JobRouteOptions;
  /** How long a job submission waits for the queue before answering 503. @defaultValue 5000 */
  enqueueTimeoutMs?: number;
}

/** Registers everything on the instance it is given (fastify-plugin: no encapsulation). */
export const distilxr = fp<AppOptions>(
  async (app, opts) => {
    await app.register(deps, { repo: opts.repo, store: opts.store, queue: opts.queue, config: opts.config });
    await app.register(errorHandler);
    await app.register(docs);
    await app.register(securityHeaders);
    await app.register(cors, { origins: opts.config.corsOrigins });
    await app.register(metrics);
    await app.register(multipart);
    await app.register(modelCache, { capacity: opts.modelCacheSize ?? 4 });
    await app.register(datasetsService);
    await app.register(teachersService);
    await app.register(jobsService, { enqueueTimeoutMs: opts.enqueueTimeoutMs });
    await app.register(modelsService);
    await app.register(health);
    await app.register(v1, { prefix: '/v1', jobs: opts.sse });
    await app.register(dashboard);
  },
  { name: 'distilxr', fastify: '5.x' },
);

/** Never logs an Authorization header, a cookie or a stream token (`?token=` of an event stream), whatever the logger options. */
function loggerOptions(logger: boolean | object | undefined, level: string | null): boolean | object {
  if (!logger) return false;
  const base: { serializers?: Record<string, unknown> } = logger === true ? { level: level ?? 'info' } : logger;
  return {
    ...base,
    redact: ['req.headers.authorization', 'req.headers.cookie'],
    serializers: { ...base.serializers, req: serializeRequest },
  };
}

/** Fastify's default request serializer, with the URL's token redacted. */
function serializeRequest(request: FastifyRequest): Record<string, unknown> {
  return {
    method: request.method,
    url: redactTokenInUrl(request.url),
    version: request.headers['accept-version'],
    host: request.host,
    remoteAddress: request.ip,
    remotePort: request.socket?.remotePort,
  };
}

export async function buildApp(options: AppOptions & { logger?: boolean | object }): Promise<FastifyInstance> {
  const { logger, ...opts } = options;
  const app = Fastify({
    logger: loggerOptions(logger, opts.config.logLevel),
    // JSON bodies; multipart uploads have their own limits (plugins/multipart.ts), queries a larger one
    bodyLimit: opts.config.maxBodyBytes,
    genReqId: () => randomUUID(),
  }).withTypeProvider<TypeBoxTypeProvider>();
  // TypeBox validates bodies as they are (no coercion, no silent removal of unknown keys)
  app.setValidatorCompiler(TypeBoxValidatorCompiler);
  await app.register(distilxr, opts);
  return app;
}
