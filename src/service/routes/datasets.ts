import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { IdParams, commonErrors, documentOnlyBody, ErrorResponse } from '../schemas/common.js';
import { Dataset, DatasetList, DatasetUpload, datasetView } from '../schemas/datasets.js';

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

  app.get('/datasets', { schema: { tags: ['datasets'], summary: 'list datasets', response: { 200: DatasetList, ...commonErrors } } }, async () => ({
    datasets: (await app.datasets.list()).map(datasetView),
  }));

  app.get(
    '/datasets/:id',
    { schema: { tags: ['datasets'], summary: 'one dataset', params: IdParams, response: { 200: Dataset, ...commonErrors, 404: ErrorResponse } } },
    async (request) => datasetView(await app.datasets.get(request.params.id)),
  );
};

export default datasets;
