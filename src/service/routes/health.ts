import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';

const Health = Type.Object({ status: Type.Literal('ok') });
const Ready = Type.Object({
  status: Type.Union([Type.Literal('ready'), Type.Literal('unavailable')]),
  checks: Type.Object({ database: Type.String(), queue: Type.String() }),
  message: Type.Optional(Type.String()),
});

/** How long /readyz waits for each dependency. */
const CHECK_TIMEOUT_MS = 3000;

async function check(probe: () => Promise<void>): Promise<Error | null> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      probe(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
      }),
    ]);
    return null;
  } catch (e) {
    return e as Error;
  } finally {
    clearTimeout(timer);
  }
}

/** /healthz: the process is up. /readyz: the database and the queue answer (503 names what is down). */
const health: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/healthz', { schema: { tags: ['health'], summary: 'liveness', security: [], response: { 200: Health } } }, async () => ({ status: 'ok' as const }));

  app.get('/readyz', { schema: { tags: ['health'], summary: 'readiness: database and queue', security: [], response: { 200: Ready, 503: Ready } } }, async (request, reply) => {
    const [db, queue] = await Promise.all([check(() => app.repo.ping()), check(() => app.queue.ping())]);
    const checks = { database: db ? 'down' : 'ok', queue: queue ? 'down' : 'ok' };
    if (!db && !queue) return { status: 'ready' as const, checks };
    if (db) request.log.warn({ err: db }, 'readyz: database down');
    if (queue) request.log.warn({ err: queue }, 'readyz: queue down');
    const down = [db ? 'database' : null, queue ? 'queue (Redis)' : null].filter(Boolean).join(' and ');
    return reply.status(503).send({ status: 'unavailable' as const, checks, message: `${down} unavailable` });
  });
};

export default health;
