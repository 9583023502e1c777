/**
 * The service's collaborators, given to buildApp by its caller (server.ts, tests). The caller
 * created them and closes them; the app only uses them.
 */
import fp from 'fastify-plugin';
import type { ArtifactStore } from '../../infra/artifacts/artifact-store.js';
import type { ServiceConfig } from '../../infra/config.js';
import type { JobQueue } from '../../infra/queue/job-queue.js';
import type { Repository } from '../../infra/records.js';

export interface ServiceDeps {
  repo: Repository;
  store: ArtifactStore;
  queue: JobQueue;
  config: ServiceConfig;
}

declare module 'fastify' {
  interface FastifyInstance {
    repo: Repository;
    store: ArtifactStore;
    queue: JobQueue;
    serviceConfig: ServiceConfig;
  }
}

export default fp<ServiceDeps>(
  async (app, deps) => {
    app.decorate('repo', deps.repo);
    app.decorate('store', deps.store);
    app.decorate('queue', deps.queue);
    app.decorate('serviceConfig', deps.config);
  },
  { name: 'deps', fastify: '5.x' },
);
