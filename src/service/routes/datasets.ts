import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { DEFAULT_PAGE_SIZE, IdParams, PageQuery, commonErrors, documentOnlyBody, ErrorResponse } from '../schemas/common.js';
import { Dataset, DatasetList, DatasetUpload, datasetView } from '../schemas/datasets.js';
import { deleteRoute } from './delete-route.js';

const datasets: FastifyPluginAsyncTypebox = async (app) => {
  app.post(
    '/datasets',
    {
      schema: {
        tags: ['datasets'],
        summary: 'upload a dataset (multipart: train, optional test, optional labels, optional name); validated on arrival',
        consumes: ['multipart/form-data'],
        body: DatasetUpload,
        response: { 201: Dataset, ...commonErrors, 413: ErrorResponse, 415: ErrorResponse },
      },
      validatorCompiler: documentOnlyBody,
    },
    async (request, reply) => reply.status(201).send(datasetView(await app.datasets.upload(request.parts()))),
  );

  app.get(
    '/datasets',
    { schema: { tags: ['datasets'], summary: 'list datasets, newest first, a page at a time', querystring: PageQuery, response: { 200: DatasetList, ...commonErrors } } },
    async (request) => {
      const page = await app.datasets.list(request.query.limit ?? DEFAULT_PAGE_SIZE, request.query.cursor);
      return { datasets: page.items.map(datasetView), nextCursor: page.nextCursor };
    },
  );

  app.get(
    '/datasets/:id',
    { schema: { tags: ['datasets'], summary: 'one dataset', params: IdParams, response: { 200: Dataset, ...commonErrors, 404: ErrorResponse } } },
    async (request) => datasetView(await app.datasets.get(request.params.id)),
  );

  deleteRoute(app, 'datasets', 'delete a dataset and its files (409 while a queued or running job uses it); jobs, teachers and models made from it stay', (id) => app.datasets.delete(id));
};

export default datasets;
