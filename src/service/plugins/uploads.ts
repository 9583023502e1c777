/**
 * Receives a multipart body: each expected file field is streamed into a staged group of the
 * artifact store (never buffered whole, never visible as an artifact before the caller commits
 * the group), text fields are collected. Unknown, repeated or oversized parts are refused with a
 * message naming the field. On any failure the caller discards the group, so nothing stays behind.
 */
import type { Multipart } from '@fastify/multipart';
import type { ArtifactStore, StagedArtifacts } from '../../infra/artifacts/artifact-store.js';
import { ApiError, BadRequestError, MissingFileError, TooLargeError } from '../errors.js';

export interface UploadSpec {
  /** File field → name of its file in the staged group (and under the prefix once committed). */
  files: Readonly<Record<string, string>>;
  required: readonly string[];
  /** Text fields accepted, with their maximum length. */
  fields: Readonly<Record<string, number>>;
  maxBytes: number;
}

export interface ReceivedFile {
  /** File name in the staged group. */
  name: string;
  bytes: number;
  sha256: string;
  filename: string;
}

export interface Upload {
  files: Record<string, ReceivedFile>;
  fields: Record<string, string>;
}

/**
 * Busboy (under @fastify/multipart) reports a body cut short with plain Errors, no code: "Unexpected
 * end of multipart data" from the form, "Part terminated early due to ..." from the part being read.
 */
const TRUNCATED_MULTIPART = /unexpected end of multipart data/i;

export async function receiveUpload(parts: AsyncIterable<Multipart>, staged: StagedArtifacts, spec: UploadSpec): Promise<Upload> {
  try {
    return await receiveParts(parts, staged, spec);
  } catch (e) {
    // the client's fault, not ours: a 400 instead of an internal error
    if (e instanceof Error && !(e instanceof ApiError) && TRUNCATED_MULTIPART.test(e.message)) {
      throw new BadRequestError('the multipart body ended before its closing boundary (truncated upload)');
    }
    throw e;
  }
}

async function receiveParts(parts: AsyncIterable<Multipart>, staged: StagedArtifacts, spec: UploadSpec): Promise<Upload> {
  const files: Record<string, ReceivedFile> = {};
  const fields: Record<string, string> = {};
  const expected = (): string => [...Object.keys(spec.files), ...Object.keys(spec.fields)].map((f) => `"${f}"`).join(', ');
  for await (const part of parts) {
    const name = part.fieldname;
    if (part.type === 'file') {
      if (!Object.hasOwn(spec.files, name)) {
        part.file.resume();
        throw new BadRequestError(`unexpected file field "${name}": expected ${expected()}`);
      }
      if (files[name]) {
        part.file.resume();
        throw new BadRequestError(`file field "${name}" appears more than once`);
      }
      const stagedName = spec.files[name];
      const { bytes, sha256 } = await staged.putStream(stagedName, part.file, { maxBytes: spec.maxBytes });
      if (part.file.truncated) throw new TooLargeError(`file "${name}"`, spec.maxBytes);
      files[name] = { name: stagedName, bytes, sha256, filename: part.filename };
    } else {
      if (Object.hasOwn(spec.files, name)) throw new BadRequestError(`field "${name}" must be a file upload (multipart part with a filename)`);
      if (!Object.hasOwn(spec.fields, name)) throw new BadRequestError(`unexpected field "${name}": expected ${expected()}`);
      if (Object.hasOwn(fields, name)) throw new BadRequestError(`field "${name}" appears more than once`);
      const value = String(part.value);
      if (part.valueTruncated || value.length > spec.fields[name]) throw new BadRequestError(`field "${name}" is longer than ${spec.fields[name]} characters`);
      fields[name] = value;
    }
  }
  for (const name of spec.required) if (!files[name]) throw new MissingFileError(name);
  return { files, fields };
}

/**
 * Runs `accept` on a fresh staged group for `prefix`: it receives and checks the files, calls
 * `commit()` once they are good, then records them. On any failure the staged files, or the
 * committed prefix when recording failed, are removed, so a refused upload leaves nothing.
 */
export async function stagedUpload<T>(
  store: ArtifactStore,
  prefix: string,
  accept: (staged: StagedArtifacts, commit: () => Promise<void>) => Promise<T>,
): Promise<T> {
  const staged = store.stage(prefix);
  let committed = false;
  try {
    return await accept(staged, async () => {
      await staged.commit();
      committed = true;
    });
  } catch (e) {
    await staged.discard();
    if (committed) await store.remove(prefix);
    throw e;
  }
}
