/**
 * Bearer API keys (api-keys.ts). Registered inside the /v1 scope, so health, metrics and docs
 * stay open. A missing, malformed or unknown key is 401 with `WWW-Authenticate: Bearer`; a
 * read-only key asking for a write is 403. Neither the key nor its digest is logged here (the
 * app's logger also redacts the Authorization header).
 */
import type { FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { ApiKeys, KeyAccess } from '../api-keys.js';
import { ForbiddenError, UnauthorizedError } from '../errors.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** What a route needs of a key; a POST that only reads (a query) says 'read'. @defaultValue GET/HEAD: 'read', else 'write' */
    access?: KeyAccess;
  }
}

const REASONS = { missing: 'missing API key', malformed: 'malformed Authorization header', invalid: 'invalid API key' } as const;

function needs(request: FastifyRequest): KeyAccess {
  return request.routeOptions.config.access ?? (request.method === 'GET' || request.method === 'HEAD' ? 'read' : 'write');
}

export default fp<{ keys: ApiKeys }>(
  async (app, { keys }) => {
    if (!keys.enabled) return;
    app.addHook('onRequest', async (request, reply) => {
      const caller = keys.identify(request.headers.authorization);
      if (caller.kind !== 'valid') {
        reply.header('www-authenticate', 'Bearer');
        throw new UnauthorizedError(REASONS[caller.kind]);
      }
      if (caller.access === 'read' && needs(request) === 'write') throw new ForbiddenError(`${request.method} ${request.routeOptions.url ?? request.url.split('?')[0]}`);
    });
  },
  { name: 'auth', fastify: '5.x' },
);
