/**
 * An index file with its sidecar JSON (`<path>.json`: the index's parameters and the file's
 * sha256), as the label index (hnswlib) and the training points' index (USearch) write them: the
 * file through a temp file and a rename, the sidecar after it; a load checks the file against it.
 */
import { readFile, rename, rm } from 'node:fs/promises';
import { writeFileAtomically } from '../core/util/atomic-write.js';
import { DistilxrError } from '../core/util/errors.js';
import { sha256File } from '../core/util/hash.js';

/** An index file that is missing its sidecar, does not match it, or does not match the caller. */
export class IndexIntegrityError extends DistilxrError {
  constructor(message: string) {
    super(message, 'INDEX_INTEGRITY');
  }
}

export function sidecarPath(path: string): string {
  return `${path}.json`;
}

/** Writes the index with `write(tmp)`, renames it to `path` and writes the sidecar `meta(sha256)`; resolves to the sidecar. */
export async function saveWithSidecar<M extends { sha256: string }>(path: string, write: (tmp: string) => unknown, meta: (sha256: string) => M): Promise<M> {
  const tmp = `${path}.tmp-${process.pid}-${Date.now()}`;
  try {
    await write(tmp);
    const sidecar = meta(await sha256File(tmp));
    await rename(tmp, path);
    await writeFileAtomically(sidecarPath(path), `${JSON.stringify(sidecar, null, 2)}\n`);
    return sidecar;
  } finally {
    await rm(tmp, { force: true });
  }
}

/** The sidecar of the index at `path`, parsed; IndexIntegrityError when it cannot be read. */
export async function readSidecar<M>(path: string): Promise<M> {
  const side = sidecarPath(path);
  try {
    return JSON.parse(await readFile(side, 'utf8')) as M;
  } catch (e) {
    throw new IndexIntegrityError(`${side}: cannot read index sidecar (${(e as Error).message})`);
  }
}

/** IndexIntegrityError unless the file at `path` hashes to the sidecar's sha256. */
export async function checkIndexHash(path: string, sha256: string): Promise<void> {
  const actual = await sha256File(path);
  if (actual !== sha256) throw new IndexIntegrityError(`${path}: sha256 ${actual} does not match ${sidecarPath(path)} (${sha256}); file corrupt or replaced`);
}
