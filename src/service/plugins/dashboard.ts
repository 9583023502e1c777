/**
 * The dashboard: static files served by this process at `/` (src/service/dashboard, copied next
 * to the compiled plugin by `npm run build`) and uPlot from node_modules at `/vendor/uplot/`.
 * Nothing is fetched from the network at run time; the page calls the public /v1 routes only.
 */
import fastifyStatic from '@fastify/static';
import fp from 'fastify-plugin';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The dashboard's own files (index.html, modules, style). */
export const DASHBOARD_DIR = fileURLToPath(new URL('../dashboard/', import.meta.url));

const UPLOT_DIR = dirname(createRequire(import.meta.url).resolve('uplot/dist/uPlot.esm.js'));

export default fp(
  async (app) => {
    // decorateReply: false, since @fastify/swagger-ui registers @fastify/static too
    await app.register(fastifyStatic, { root: DASHBOARD_DIR, prefix: '/', decorateReply: false, index: ['index.html'], wildcard: false });
    await app.register(fastifyStatic, { root: UPLOT_DIR, prefix: '/vendor/uplot/', decorateReply: false, allowedPath: (path) => /^\/uPlot\.(esm\.js|min\.css)$/.test(path) });
  },
  { name: 'dashboard', fastify: '5.x' },
);
