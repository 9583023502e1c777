import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { FastifyRequest } from 'fastify';
import { TooManyStreamsError } from '../errors.js';
import { JobEventHub } from '../job-event-hub.js';
import { STREAM_TOKEN_PATTERN } from '../stream-tokens.js';
import { DEFAULT_PAGE_SIZE, FreeObject, IdParams, commonErrors, ErrorResponse } from '../schemas/common.js';
import { CreateJobBody, EventsHeaders, Job, JobList, JobListQuery, JobMetrics, TrainParams, jobView } from '../schemas/jobs.js';
import { deleteRoute } from './delete-route.js';

export interface JobRouteOptions {
  /** How often the event stream looks for new events. @defaultValue 500 */
  ssePollMs?: number;
  /** Comment lines that keep idle connections (and proxies) open. @defaultValue 15000 */
  sseHeartbeatMs?: number;
  /** How long a stream token opens the stream (stream-tokens.ts). @defaultValue 60000 */
  streamTokenTtlMs?: number;
  /** Who a request counts against for the open-stream cap (v1.ts: the API key, else the IP). @defaultValue the client IP */
  clientKey?: (request: FastifyRequest) => string;
}

const jobs: FastifyPluginAsyncTypebox<JobRouteOptions> = async (app, opts) => {
  const pollMs = opts.ssePollMs ?? 500;
  const heartbeatMs = opts.sseHeartbeatMs ?? 15000;
  const maxPerClient = app.serviceConfig.maxEventStreamsPerClient;
  const clientKey = opts.clientKey ?? ((request: FastifyRequest) => request.ip);
  /** One database poller per followed job, shared by its streams. */
  const hub = new JobEventHub(app.repo, pollMs);
  /** Open event streams, ended when the server closes. */
  const streams = new Set<AbortController>();
  /** Open streams per client (see clientKey). */
  const openByClient = new Map<string, number>();
  app.addHook('preClose', async () => {
    for (const s of streams) s.abort();
    hub.close();
  });

  app.post(
    '/jobs',
    {
      schema: {
        tags: ['jobs'],
        summary: 'submit a training job (refused with 413 when its estimated memory or run time is over the job limits)',
        body: CreateJobBody,
        response: { 202: Job, ...commonErrors, 404: ErrorResponse, 413: ErrorResponse, 503: ErrorResponse },
      },
    },
    async (request, reply) => reply.status(202).send(jobView(await app.jobs.createTrain(request.body))),
  );

  app.get(
    '/jobs',
    { schema: { tags: ['jobs'], summary: 'list jobs, newest first, a page at a time', querystring: JobListQuery, response: { 200: JobList, ...commonErrors } } },
    async (request) => {
      const { status, limit, cursor } = request.query;
      const page = await app.jobs.list({ status }, limit ?? DEFAULT_PAGE_SIZE, cursor);
      return { jobs: page.items.map((j) => jobView(j)), nextCursor: page.nextCursor };
    },
  );

  app.get(
    '/jobs/params',
    {
      schema: {
        tags: ['jobs'],
        summary: "the training settings a job's `params` accept: their JSON Schema, with defaults, ranges and descriptions (the dashboard's submit form is built from it)",
        response: { 200: FreeObject('JSON Schema of params'), ...commonErrors },
      },
    },
    async () => TrainParams,
  );

  app.get(
    '/jobs/:id',
    { schema: { tags: ['jobs'], summary: 'one job: status, stage, progress, throughput, ETA, result', params: IdParams, response: { 200: Job, ...commonErrors, 404: ErrorResponse } } },
    async (request) => jobView(await app.jobs.get(request.params.id)),
  );

  app.get(
    '/jobs/:id/metrics',
    { schema: { tags: ['jobs'], summary: 'per-epoch history and the evaluation', params: IdParams, response: { 200: JobMetrics, ...commonErrors, 404: ErrorResponse } } },
    async (request) => {
      const { job, epochs, evaluation } = await app.jobs.metrics(request.params.id);
      return { id: job.id, status: job.status, epochs, evaluation };
    },
  );

  app.post(
    '/jobs/:id/cancel',
    {
      schema: {
        tags: ['jobs'],
        summary: 'cancel a job (a queued one at once, a running one at its next batch)',
        params: IdParams,
        response: { 202: Job, ...commonErrors, 404: ErrorResponse, 409: ErrorResponse },
      },
    },
    async (request, reply) => reply.status(202).send(jobView(await app.jobs.cancel(request.params.id))),
  );

  app.post(
    '/jobs/:id/retry',
    {
      schema: {
        tags: ['jobs'],
        summary: 'run a failed or cancelled job again from scratch: a new job (retryOf: this id) with the same dataset, teacher and params',
        params: IdParams,
        response: { 202: Job, ...commonErrors, 403: ErrorResponse, 404: ErrorResponse, 409: ErrorResponse, 503: ErrorResponse },
      },
    },
    async (request, reply) => reply.status(202).send(jobView(await app.jobs.retry(request.params.id))),
  );

  deleteRoute(app, 'jobs', 'delete a finished job, its events and checkpoint (409 while queued or running, or while its model exists)', (id) => app.jobs.delete(id));

  app.get(
    '/jobs/:id/events',
    {
      config: { streamToken: true },
      schema: {
        tags: ['jobs'],
        summary: 'Server-Sent Events (with API keys on: Authorization, or ?token= from POST /v1/jobs/{id}/events/token): status, stage, progress, epoch, log and metrics events; resumes after Last-Event-ID; ends when the job is final; at most MAX_EVENT_STREAMS_PER_CLIENT open per client (429 over it)',
        params: IdParams,
        headers: EventsHeaders,
        querystring: Type.Object(
          {
            lastEventId: Type.Optional(Type.String({ pattern: '^[0-9]{1,15}$' })),
            token: Type.Optional(Type.String({ pattern: STREAM_TOKEN_PATTERN, description: 'a stream token from POST /v1/jobs/{id}/events/token, for clients that cannot send Authorization (EventSource); never the API key' })),
          },
          { additionalProperties: false },
        ),
        produces: ['text/event-stream'],
        response: { 200: Type.String({ description: 'text/event-stream' }), ...commonErrors, 404: ErrorResponse, 429: ErrorResponse },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      await app.jobs.get(id); // 404 as JSON, before the stream starts
      const client = clientKey(request);
      const open = openByClient.get(client) ?? 0;
      if (maxPerClient > 0 && open >= maxPerClient) throw new TooManyStreamsError(maxPerClient);
      openByClient.set(client, open + 1);
      const afterId = Number(request.headers['last-event-id'] ?? request.query.lastEventId ?? 0);
      const abort = new AbortController();
      streams.add(abort);
      reply.hijack();
      const res = reply.raw;
      res.on('close', () => abort.abort());
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
        'x-request-id': String(request.id),
      });
      res.write('retry: 2000\n\n');
      const heartbeat = setInterval(() => res.write(': heartbeat\n\n'), heartbeatMs);
      try {
        for await (const e of hub.follow(id, afterId, abort.signal)) {
          const data = JSON.stringify({ jobId: e.jobId, type: e.type, at: e.createdAt.toISOString(), data: e.data });
          res.write(`id: ${e.id}\nevent: ${e.type}\ndata: ${data}\n\n`);
        }
        if (!abort.signal.aborted) res.write('event: end\ndata: {}\n\n');
      } catch (err) {
        request.log.error({ err, jobId: id }, 'event stream failed');
      } finally {
        clearInterval(heartbeat);
        streams.delete(abort);
        const left = (openByClient.get(client) ?? 1) - 1;
        if (left > 0) openByClient.set(client, left);
        else openByClient.delete(client);
        res.end();
      }
    },
  );
};

export default jobs;
