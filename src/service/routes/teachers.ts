import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { DEFAULT_PAGE_SIZE, IdParams, PageQuery, commonErrors, documentOnlyBody, ErrorResponse } from '../schemas/common.js';
import { Job, jobView } from '../schemas/jobs.js';
import { Teacher, TeacherFitBody, TeacherList, TeacherUpload, teacherView } from '../schemas/teachers.js';
import { deleteRoute } from './delete-route.js';

const teachers: FastifyPluginAsyncTypebox = async (app) => {
  app.post(
    '/teachers',
    {
      schema: {
        tags: ['teachers'],
        summary: 'upload an ONNX teacher (multipart: model, optional name); checked against the teacher contract',
        consumes: ['multipart/form-data'],
        body: TeacherUpload,
        response: { 201: Teacher, ...commonErrors, 413: ErrorResponse, 415: ErrorResponse },
      },
      validatorCompiler: documentOnlyBody,
    },
    async (request, reply) => reply.status(201).send(teacherView(await app.teachers.upload(request.parts()))),
  );

  app.post(
    '/teachers/fit',
    {
      schema: {
        tags: ['teachers'],
        summary: 'fit the baseline teacher on a dataset (a teacher-fit job)',
        body: TeacherFitBody,
        response: { 202: Job, ...commonErrors, 404: ErrorResponse, 413: ErrorResponse, 503: ErrorResponse },
      },
    },
    async (request, reply) => reply.status(202).send(jobView(await app.jobs.createTeacherFit(request.body))),
  );

  app.get(
    '/teachers',
    { schema: { tags: ['teachers'], summary: 'list teachers, newest first, a page at a time', querystring: PageQuery, response: { 200: TeacherList, ...commonErrors } } },
    async (request) => {
      const page = await app.teachers.list(request.query.limit ?? DEFAULT_PAGE_SIZE, request.query.cursor);
      return { teachers: page.items.map(teacherView), nextCursor: page.nextCursor };
    },
  );

  app.get(
    '/teachers/:id',
    { schema: { tags: ['teachers'], summary: 'one teacher', params: IdParams, response: { 200: Teacher, ...commonErrors, 404: ErrorResponse } } },
    async (request) => teacherView(await app.teachers.get(request.params.id)),
  );

  deleteRoute(app, 'teachers', 'delete a teacher and its files (409 while a queued or running job uses it); jobs and models trained with it stay', (id) => app.teachers.delete(id));
};

export default teachers;
