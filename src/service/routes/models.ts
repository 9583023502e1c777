import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { createReadStream } from 'node:fs';
import { Type } from 'typebox';
import { DEFAULT_PAGE_SIZE, IdParams, PageQuery, commonErrors, ErrorResponse } from '../schemas/common.js';
import { FileParams, Model, ModelList, QueryBody, QueryResponse, modelView } from '../schemas/models.js';
import { deleteRoute } from './delete-route.js';

const models: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/models',
    { schema: { tags: ['models'], summary: 'list models, newest first, a page at a time', querystring: PageQuery, response: { 200: ModelList, ...commonErrors } } },
    async (request) => {
      const page = await app.models.list(request.query.limit ?? DEFAULT_PAGE_SIZE, request.query.cursor);
      return { models: page.items.map((m) => modelView(m, [])), nextCursor: page.nextCursor };
    },
  );

  app.get(
    '/models/:id',
    {
      schema: {
        tags: ['models'],
        summary: 'one model: configuration, student metrics and teacher metrics side by side, files',
        params: IdParams,
        response: { 200: Model, ...commonErrors, 404: ErrorResponse },
      },
    },
    async (request) => {
      const m = await app.models.get(request.params.id);
      return modelView(m, await app.models.files(m));
    },
  );

  app.post(
    '/models/:id/query',
    {
      // 1000 queries of text or features can exceed the JSON body limit (MAX_BODY_BYTES)
      bodyLimit: app.serviceConfig.maxQueryBodyBytes,
      // a query only reads: a read-only API key may send it
      config: { access: 'read' },
      schema: {
        tags: ['models'],
        summary: 'top-k labels for up to 1000 queries (text or sparse features)',
        params: IdParams,
        body: QueryBody,
        response: { 200: QueryResponse, ...commonErrors, 404: ErrorResponse, 413: ErrorResponse },
      },
    },
    async (request) => ({ results: await app.models.query(request.params.id, request.body) }),
  );

  app.get(
    '/models/:id/files/:name',
    {
      schema: {
        tags: ['models'],
        summary: 'download a file of the model directory (weights.safetensors, student.onnx, index.hnsw, config.json, labels.json, featurizer.json, label-map.json)',
        params: FileParams,
        produces: ['application/octet-stream', 'application/json'],
        response: { 200: Type.Unknown({ description: 'the file (binary or JSON)' }), ...commonErrors, 404: ErrorResponse },
      },
    },
    async (request, reply) => {
      const { id, name } = request.params;
      const { path, size } = await app.models.file(id, name);
      reply.header('content-type', name.endsWith('.json') ? 'application/json; charset=utf-8' : 'application/octet-stream');
      reply.header('content-length', size);
      reply.header('content-disposition', `attachment; filename="${name}"`);
      return reply.send(createReadStream(path));
    },
  );

  deleteRoute(app, 'models', 'delete a model and its files (queries answer 404 from then on); the job that trained it stays', (id) => app.models.delete(id));
};

export default models;
