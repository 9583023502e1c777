/**
 * CORS, closed unless CORS_ORIGINS lists origins: without it no Access-Control-* header is ever
 * sent, so browsers keep other sites' pages from reading the API. With it, only those origins
 * (or any, for "*") get them, preflights included, with the headers a client needs to send a
 * key and to read the error and rate-limit headers.
 */
import cors from '@fastify/cors';
import fp from 'fastify-plugin';

export default fp<{ origins: readonly string[] }>(
  async (app, { origins }) => {
    if (origins.length === 0) return;
    await app.register(cors, {
      origin: origins.includes('*') ? '*' : [...origins],
      methods: ['GET', 'HEAD', 'POST'],
      allowedHeaders: ['authorization', 'content-type', 'last-event-id'],
      exposedHeaders: ['x-request-id', 'retry-after', 'x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset', 'content-disposition'],
      maxAge: 600,
      strictPreflight: true,
    });
  },
  { name: 'cors', fastify: '5.x' },
);
