import type { FastifyInstance } from 'fastify';
import { IdParams, NoContent, commonErrors, ErrorResponse } from '../schemas/common.js';

/**
 * `DELETE /<kind>/:id` → 204, the one shape every resource's delete takes (404 unknown, 409 in
 * use, 403 for read-only keys); `remove` does the work and throws those errors.
 */
export function deleteRoute(app: FastifyInstance, kind: 'datasets' | 'teachers' | 'models' | 'jobs', summary: string, remove: (id: string) => Promise<unknown>): void {
  app.delete<{ Params: { id: string } }>(
    `/${kind}/:id`,
    { schema: { tags: [kind], summary, params: IdParams, response: { 204: NoContent, ...commonErrors, 403: ErrorResponse, 404: ErrorResponse, 409: ErrorResponse } } },
    async (request, reply) => {
      await remove(request.params.id);
      return reply.status(204).send(null);
    },
  );
}
