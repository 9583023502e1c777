/**
 * SHA-256 of stored artifacts, recorded when they are written and verified when they are read, so
 * a file corrupted or replaced on disk is refused with a message naming it instead of being used.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { DistilxrError } from './errors.js';
import { sha256File } from './hash.js';

/** A stored file whose content no longer matches the checksum recorded when it was written. */
export class ArtifactIntegrityError extends DistilxrError {
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(message, 'ARTIFACT_INTEGRITY');
  }
}

/** sha256 (hex) of a file, streamed. */

/**
 * Throws ArtifactIntegrityError unless `path` hashes to `expected`. `name` is how the error names
 * the file (a path, or an upload field where paths must not leak); `recordedIn` says where the
 * expected value came from.
 */
export async function verifyFile(path: string, expected: string, recordedIn: string, name = path): Promise<void> {
  const actual = await sha256File(path).catch((e: unknown) => Promise.reject(unreadable(name, e)));
  if (actual !== expected) throw mismatch(name, actual, expected, recordedIn);
}

/** Reads `path` whole and checks it as verifyFile does: for files parsed right after, read once instead of twice. */
export async function readVerifiedFile(path: string, expected: string, recordedIn: string, name = path): Promise<Buffer> {
  const bytes = await readFile(path).catch((e: unknown) => Promise.reject(unreadable(name, e)));
  const actual = createHash('sha256').update(bytes).digest('hex');
  if (actual !== expected) throw mismatch(name, actual, expected, recordedIn);
  return bytes;
}

function unreadable(name: string, e: unknown): ArtifactIntegrityError {
  const code = (e as NodeJS.ErrnoException).code;
  return new ArtifactIntegrityError(name, `${name}: cannot be read for its checksum (${code ?? (e as Error).message})`);
}

function mismatch(name: string, actual: string, expected: string, recordedIn: string): ArtifactIntegrityError {
  return new ArtifactIntegrityError(name, `${name}: sha256 ${actual} does not match ${expected} recorded in ${recordedIn}; the file is corrupt or was replaced`);
}
