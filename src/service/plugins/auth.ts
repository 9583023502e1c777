/**
 * Bearer API keys. Registered inside the /v1 scope, so health, metrics and docs stay open. Keys
 * are compared as SHA-256 digests with timingSafeEqual (equal lengths, constant time), against
 * every configured key without stopping early; a key is never logged.
 */
import fp from 'fastify-plugin';
import { createHash, timingSafeEqual } from 'node:crypto';
import { UnauthorizedError } from '../errors.js';

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

export default fp<{ apiKeys: readonly string[] }>(
  async (app, { apiKeys }) => {
    if (apiKeys.length === 0) return;
    const digests = apiKeys.map(digest);
    app.addHook('onRequest', async (request, reply) => {
      const header = request.headers.authorization;
      const match = header === undefined ? null : /^Bearer +(\S+) *$/i.exec(header);
      let ok = false;
      if (match) {
        const given = digest(match[1]);
        for (const d of digests) ok = timingSafeEqual(given, d) || ok;
      }
      if (ok) return;
      reply.header('www-authenticate', 'Bearer');
      throw new UnauthorizedError(header === undefined ? 'missing API key' : match ? 'invalid API key' : 'malformed Authorization header');
    });
  },
  { name: 'auth', fastify: '5.x' },
);
