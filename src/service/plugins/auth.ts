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
import type { StreamTokens } from '../stream-tokens.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** What a route needs of a key; a POST that only reads (a query) says 'read'. @defaultValue GET/HEAD: 'read', else 'write' */
    access?: KeyAccess;
    /** The route takes a stream token (stream-tokens.ts) in `?token=` instead of a key: only a job's event stream. */
    streamToken?: boolean;
  }
}

/** The `token` query parameter of a route that takes stream tokens, if any. */
export function streamTokenOf(request: FastifyRequest): string | undefined {
  if (!request.routeOptions.config.streamToken) return undefined;
  const token = (request.query as { token?: unknown } | undefined)?.token;
  return typeof token === 'string' ? token : undefined;
}

const REASONS = { missing: 'missing API key', malformed: 'malformed Authorization header', invalid: 'invalid API key' } as const;

function needs(request: FastifyRequest): KeyAccess {
  return request.routeOptions.config.access ?? (request.method === 'GET' || request.method === 'HEAD' ? 'read' : 'write');
}

export default fp<{ keys: ApiKeys; tokens: StreamTokens }>(
  async (app, { keys, tokens }) => {
    if (!keys.enabled) return;
    app.addHook('onRequest', async (request, reply) => {
      const token = streamTokenOf(request);
      if (token !== undefined && request.headers.authorization === undefined) {
        const jobId = (request.params as { id?: string }).id ?? '';
        const check = tokens.check(token, jobId);
        if (check.ok) return;
        reply.header('www-authenticate', 'Bearer');
        throw new UnauthorizedError(`stream token ${check.reason} (POST /v1/jobs/${jobId.slice(0, 36)}/events/token issues a new one)`);
      }
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
