/**
 * Rate limiting with @fastify/rate-limit, registered inside the /v1 scope (health, readiness,
 * metrics and docs are never limited) ahead of the API-key check, so failed key guesses count
 * too. A request with a valid key is counted against that key, by its digest id (never the key
 * itself); anything else (no key, a wrong one, or no keys configured) against the client's IP (an
 * IPv6 client by its /64, as the plugin does by default).
 * Over the limit: 429 with Retry-After. Counters live in this process (one API process per
 * deployment; several would each allow the limit).
 */
import rateLimit, { normalizeIP } from '@fastify/rate-limit';
import fp from 'fastify-plugin';
import type { ApiKeys } from '../api-keys.js';
import { RateLimitedError } from '../errors.js';

export interface RateLimitOptions {
  keys: ApiKeys;
  /** Requests per window; 0 turns the limit off. */
  max: number;
  windowMs: number;
}

/** The bucket a request is counted in: `key:<digest id>` for a valid key, else `ip:<address>`. */
export function rateLimitKey(keys: ApiKeys, request: { headers: { authorization?: string }; ip: string }): string {
  const caller = keys.identify(request.headers.authorization);
  return caller.kind === 'valid' ? `key:${caller.id}` : `ip:${normalizeIP(request.ip)}`;
}

export default fp<RateLimitOptions>(
  async (app, { keys, max, windowMs }) => {
    if (max === 0) return;
    await app.register(rateLimit, {
      global: false, // applied by the hook below, to this scope only, before the key check
      max,
      timeWindow: windowMs,
      keyGenerator: (request) => rateLimitKey(keys, request),
      errorResponseBuilder: (_request, ctx) => new RateLimitedError(ctx.max, windowMs, Math.ceil(ctx.ttl / 1000)),
    });
    app.addHook('onRequest', app.rateLimit());
  },
  { name: 'rate-limit', fastify: '5.x' },
);
