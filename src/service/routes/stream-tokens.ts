import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { ApiKeys } from '../api-keys.js';
import { ErrorResponse, IdParams, Timestamp, commonErrors } from '../schemas/common.js';
import type { StreamTokens } from '../stream-tokens.js';

const StreamToken = Type.Object({
  token: Type.String({ description: 'pass as ?token= to GET /v1/jobs/{id}/events' }),
  expiresAt: Timestamp,
});

/** POST /v1/jobs/:id/events/token: a short-lived token that opens this job's event stream (stream-tokens.ts). */
const streamTokens: FastifyPluginAsyncTypebox<{ keys: ApiKeys; tokens: StreamTokens }> = async (app, { keys, tokens }) => {
  app.post(
    '/jobs/:id/events/token',
    {
      // it only lets its holder read: a read-only key may ask
      config: { access: 'read' },
      schema: {
        tags: ['jobs'],
        summary: "a signed token that opens this job's event stream for 60 s (`GET /v1/jobs/{id}/events?token=`), for browsers: EventSource cannot send Authorization. Only the stream accepts it",
        params: IdParams,
        response: { 201: StreamToken, ...commonErrors, 404: ErrorResponse },
      },
    },
    async (request, reply) => {
      const job = await app.jobs.get(request.params.id); // 404 for an unknown job
      const caller = keys.identify(request.headers.authorization);
      return reply.status(201).send(tokens.issue(job.id, caller.kind === 'valid' ? caller.id : null));
    },
  );
};

export default streamTokens;
