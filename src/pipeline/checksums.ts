/**
 * SHA-256 of stored artifacts, recorded when they are written and verified when they are read, so
 * a file corrupted or replaced on disk is refused with a message naming it instead of being used.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { DistilxrError } from '../core/errors.js';

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
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * Throws ArtifactIntegrityError unless `path` hashes to `expected`. `name` is how the error names
 * the file (a path, or an upload field where paths must not leak); `recordedIn` says where the
 * expected value came from.
 */
export async function verifyFile(path: string, expected: string, recordedIn: string, name = path): Promise<void> {
  let actual: string;
  try {
    actual = await sha256File(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ArtifactIntegrityError(name, `${name}: cannot be read for its checksum (${code ?? (e as Error).message})`);
  }
  if (actual !== expected) {
    throw new ArtifactIntegrityError(name, `${name}: sha256 ${actual} does not match ${expected} recorded in ${recordedIn}; the file is corrupt or was replaced`);
  }
}
