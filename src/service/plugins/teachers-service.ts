/**
 * Teacher uploads: the ONNX file is streamed into the store under `teachers/<id>/`, read back and
 * checked against the teacher contract (declared inputs/outputs, then a real ONNX Runtime
 * session). A refused model leaves nothing behind.
 */
import type { Multipart } from '@fastify/multipart';
import fp from 'fastify-plugin';
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { checkTeacherContract } from '../../teacher/contract.js';
import type { ArtifactStore } from '../artifact-store.js';
import { NotFoundError } from '../errors.js';
import type { Repository, TeacherRecord } from '../records.js';
import { receiveUpload } from './uploads.js';

declare module 'fastify' {
  interface FastifyInstance {
    teachers: TeacherService;
  }
}

export class TeacherService {
  constructor(
    private readonly repo: Repository,
    private readonly store: ArtifactStore,
    private readonly maxUploadBytes: number,
  ) {}

  async upload(parts: AsyncIterable<Multipart>): Promise<TeacherRecord> {
    const id = randomUUID();
    const prefix = `teachers/${id}`;
    try {
      const { files, fields } = await receiveUpload(parts, this.store, {
        files: { model: `${prefix}/teacher.onnx` },
        required: ['model'],
        fields: { name: 200 },
        maxBytes: this.maxUploadBytes,
      });
      const { key, bytes, filename } = files.model;
      const contract = await checkTeacherContract(new Uint8Array(await readFile(this.store.pathOf(key))));
      return await this.repo.createTeacher({
        id,
        name: (fields.name?.trim() || filename || `teacher-${id.slice(0, 8)}`).slice(0, 200),
        key,
        kind: contract.kind,
        numLabels: contract.numLabels,
        sizeBytes: bytes,
        jobId: null,
        datasetId: null,
        metrics: null,
      });
    } catch (e) {
      await this.store.remove(prefix);
      throw e;
    }
  }

  async get(id: string): Promise<TeacherRecord> {
    const t = await this.repo.getTeacher(id);
    if (!t) throw new NotFoundError('teacher', id);
    return t;
  }

  list(): Promise<TeacherRecord[]> {
    return this.repo.listTeachers();
  }
}

export default fp(
  async (app) => {
    app.decorate('teachers', new TeacherService(app.repo, app.store, app.serviceConfig.maxUploadBytes));
  },
  { name: 'teachers-service', fastify: '5.x', dependencies: ['deps'] },
);
