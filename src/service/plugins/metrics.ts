/**
 * Prometheus metrics on GET /metrics, from a registry of this app's own (several apps in one
 * process, as in tests, never share counters): HTTP request durations by route and status, queue
 * depth by BullMQ state, jobs by status, the training throughput of running jobs, and the bytes
 * under the artifact store by kind (disk-usage.ts: reused for up to 30 s, walked again after the
 * API wrote or deleted something).
 */
import type {} from '@fastify/swagger';
import fp from 'fastify-plugin';
import { Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { DiskUsage } from '../disk-usage.js';

declare module 'fastify' {
  interface FastifyInstance {
    metricsRegistry: Registry;
  }
  interface FastifyRequest {
    startedAt: bigint;
  }
}

export interface MetricsOptions {
  /** How long the disk-usage figure is reused between scrapes. @defaultValue 30000 */
  diskUsageMaxAgeMs?: number;
}

export default fp<MetricsOptions>(
  async (app, opts) => {
    const register = new Registry();
    collectDefaultMetrics({ register, prefix: 'distilxr_' });

    const duration = new Histogram({
      name: 'distilxr_http_request_duration_seconds',
      help: 'HTTP request duration by route and status',
      labelNames: ['method', 'route', 'status_code'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [register],
    });

    new Gauge({
      name: 'distilxr_queue_jobs',
      help: 'Queue entries by BullMQ state',
      labelNames: ['state'] as const,
      registers: [register],
      async collect() {
        this.reset();
        try {
          for (const [state, n] of Object.entries(await app.queue.counts())) this.set({ state }, n);
        } catch (err) {
          app.log.warn({ err }, 'metrics: queue counts unavailable');
        }
      },
    });

    const jobsByStatus = new Gauge({
      name: 'distilxr_jobs',
      help: 'Jobs by status (database)',
      labelNames: ['status'] as const,
      registers: [register],
    });
    const throughput = new Gauge({
      name: 'distilxr_training_examples_per_second',
      help: 'Sum of the training throughput of running jobs',
      registers: [register],
    });
    const running = new Gauge({ name: 'distilxr_jobs_running', help: 'Jobs running now', registers: [register] });

    const diskUsage = new DiskUsage(app.store, opts.diskUsageMaxAgeMs);
    new Gauge({
      name: 'distilxr_artifact_bytes',
      help: 'Bytes under the artifact store by kind (datasets, teachers, models, checkpoints, cache)',
      labelNames: ['kind'] as const,
      registers: [register],
      async collect() {
        try {
          for (const [kind, bytes] of Object.entries(await diskUsage.get())) this.set({ kind }, bytes);
        } catch (err) {
          app.log.warn({ err }, 'metrics: disk usage unavailable');
        }
      },
    });

    /** One aggregate query per scrape fills the three job gauges. */
    async function collectJobs(): Promise<void> {
      const { byStatus, runningExamplesPerSecond } = await app.repo.jobStats();
      for (const [status, n] of Object.entries(byStatus)) jobsByStatus.set({ status }, n);
      throughput.set(runningExamplesPerSecond);
      running.set(byStatus.running);
    }

    app.decorate('metricsRegistry', register);
    app.decorateRequest('startedAt', 0n);
    app.addHook('onRequest', async (request) => {
      request.startedAt = process.hrtime.bigint();
    });
    app.addHook('onResponse', async (request, reply) => {
      // a write that succeeded (upload, delete) changed the store: /metrics walks it again
      if (request.method !== 'GET' && request.method !== 'HEAD' && request.routeOptions.config?.access !== 'read' && reply.statusCode < 400) diskUsage.invalidate();
      const route = request.routeOptions.url ?? 'unmatched';
      const seconds = Number(process.hrtime.bigint() - request.startedAt) / 1e9;
      duration.observe({ method: request.method, route, status_code: String(reply.statusCode) }, seconds);
    });

    app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
      try {
        await collectJobs();
      } catch (err) {
        app.log.warn({ err }, 'metrics: job counts unavailable');
      }
      reply.header('content-type', register.contentType);
      return register.metrics();
    });
  },
  { name: 'metrics', fastify: '5.x', dependencies: ['deps'] },
);
