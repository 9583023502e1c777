/**
 * The ceiling for Table 5: a bare fastify server with one trivial JSON POST route (fastify parses
 * the body; the handler answers a fixed top-5 list of the service's shape), no plugins, no logger.
 * Run as a child process by http-queries.ts: `PORT=N node --import tsx bench/http-bare-server.ts`.
 */
import Fastify from 'fastify';

const port = Number(process.env.PORT);
if (!Number.isInteger(port) || port < 1) throw new Error(`PORT must be a port number, got "${process.env.PORT}"`);

const TOP5 = [0, 1, 2, 3, 4].map((label) => ({ label, name: `label ${label}`, score: 1 - label / 10 }));

const app = Fastify({ logger: false, bodyLimit: 32 << 20 });
app.get('/healthz', async () => ({ ok: true }));
app.post('/query', async (request) => {
  const { queries } = request.body as { queries: unknown[] };
  return { results: queries.map(() => TOP5) };
});
await app.listen({ port, host: '127.0.0.1' });

const close = (): void => void app.close().then(() => process.exit(0));
process.once('SIGTERM', close);
process.once('SIGINT', close);
