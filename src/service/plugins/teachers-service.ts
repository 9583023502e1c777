/**
 * Teacher uploads: the ONNX file is streamed into a staging area of the store, read back and
 * checked against the teacher contract (declared inputs/outputs, then a real ONNX Runtime
 * session), then moved to `teachers/<id>/` and recorded with its sha256 (checked before a job
 * reads it). A refused model, or a process killed mid-upload, leaves nothing behind. Deleting
 * marks the row first, then removes the files (the .onnx and, for a fitted teacher, its fold models).
 */
import type { Multipart } from '@fastify/multipart';
import fp from 'fastify-plugin';
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { checkTeacherContract } from '../../teacher/contract.js';
import { BUNDLE_ARCHIVE, checkBundleArchive } from '../../teacher/text/stored-bundle.js';
import type { ArtifactStore } from '../../infra/artifacts/artifact-store.js';
import { teacherUploadLimit } from '../../infra/config.js';
import { teacherPrefix } from '../../infra/artifacts/artifact-keys.js';
import { BadRequestError, ConflictError, MissingFileError, NotFoundError, TooLargeError } from '../errors.js';
import { listPage, type Page } from '../list-page.js';
import { UploadTooLargeError } from '../../infra/artifacts/fs-artifact-store.js';
import type { Repository, TeacherRecord } from '../../infra/records.js';
import { inUseMessage } from './datasets-service.js';
import { receiveUpload, stagedUpload } from './uploads.js';

declare module 'fastify' {
  interface FastifyInstance {
    teachers: TeacherService;
  }
}

export class TeacherService {
  constructor(
    private readonly repo: Repository,
    private readonly store: ArtifactStore,
    /** MAX_TEACHER_BYTES or MAX_UPLOAD_BYTES, whichever is lower (config.teacherUploadLimit). */
    private readonly limit: { bytes: number; setting: string },
  ) {}

  async upload(parts: AsyncIterable<Multipart>): Promise<TeacherRecord> {
    const id = randomUUID();
    const prefix = teacherPrefix(id);
    try {
      return await stagedUpload(this.store, prefix, async (staged, commit) => {
        const { files, fields } = await receiveUpload(parts, staged, {
          files: { model: 'teacher.onnx', bundle: BUNDLE_ARCHIVE },
          required: [],
          fields: { name: 200 },
          maxBytes: this.limit.bytes,
        });
        if (files.model && files.bundle) throw new BadRequestError('give either "model" (an ONNX file) or "bundle" (a text-teacher .tar or .zip), not both');
        const upload = files.model ?? files.bundle;
        if (!upload) throw new MissingFileError('model" or "bundle');
        const { name: file, bytes, sha256, filename } = upload;
        const contents = new Uint8Array(await readFile(staged.pathOf(file)));
        const contract = files.model ? await checkTeacherContract(contents) : await checkBundleArchive(contents, filename || 'bundle', this.limit.bytes);
        await commit();
        return this.repo.createTeacher({
          id,
          name: (fields.name?.trim() || filename || `teacher-${id.slice(0, 8)}`).slice(0, 200),
          key: `${prefix}/${file}`,
          sha256,
          kind: contract.kind,
          numLabels: contract.numLabels,
          sizeBytes: bytes,
          jobId: null,
          datasetId: null,
          metrics: null,
        });
      });
    } catch (e) {
      if (e instanceof UploadTooLargeError || e instanceof TooLargeError) throw new TooLargeError('teacher upload ("model" or "bundle")', this.limit.bytes, this.limit.setting);
      throw e;
    }
  }

  async get(id: string): Promise<TeacherRecord> {
    const t = await this.repo.getTeacher(id);
    if (!t) throw new NotFoundError('teacher', id);
    return t;
  }

  list(limit: number, cursor?: string): Promise<Page<TeacherRecord>> {
    return listPage((opts) => this.repo.listTeachers(opts), limit, cursor);
  }

  /** 409 while a queued or running job uses the teacher; jobs and models that name it keep working. */
  async delete(id: string): Promise<void> {
    const outcome = await this.repo.deleteTeacher(id);
    if (outcome.status === 'not-found') throw new NotFoundError('teacher', id);
    if (outcome.status === 'in-use') throw new ConflictError(inUseMessage(`teacher "${id}"`, outcome.jobIds));
    await this.store.remove(outcome.record.key);
    await this.store.remove(teacherPrefix(id));
  }
}

export default fp(
  async (app) => {
    app.decorate('teachers', new TeacherService(app.repo, app.store, teacherUploadLimit(app.serviceConfig)));
  },
  { name: 'teachers-service', fastify: '5.x', dependencies: ['deps'] },
);
