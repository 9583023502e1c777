/**
 * ArtifactStore on a local directory (DATA_DIR/artifacts, or a volume shared by all workers).
 * Writes go to a temporary file next to the target and are renamed into place, so readers see
 * either the old file or the whole new one, never a partial write. Groups of files (an upload)
 * are staged under `.incoming/<host>-<pid>-<random>/` and renamed into place together; a process
 * that starts removes the staging directories of this host's processes that no longer run.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream, type Dirent, type WriteStream } from 'node:fs';
import { lstat, mkdir, open, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DistilxrError } from '../../core/util/errors.js';
import { isProcessAlive } from '../../core/util/atomic-write.js';
import { verifyFile } from '../../core/util/checksums.js';
import type { ArtifactStore, StagedArtifacts } from './artifact-store.js';

/** Staging area for groups of files; never a key (keys are what commit() makes visible). */
export const INCOMING_DIR = '.incoming';
/** Staging directories of another host are removed once this old (its processes cannot be asked). @defaultValue 24 h */
const FOREIGN_STAGING_MAX_AGE_MS = 24 * 3600_000;
/**
 * This process's staging directory name, `<host>-<pid>-<random>`: the random part tells this
 * process from an earlier one with the same pid (a restarted container is often pid 1 again).
 */
const PROCESS_STAGING = `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;

/** A key that is not a relative path of [A-Za-z0-9._-] segments (or is `.`/`..`). */
export class InvalidKeyError extends DistilxrError {
  constructor(
    readonly key: string,
    reason: string,
  ) {
    super(`invalid artifact key ${JSON.stringify(key)}: ${reason}`, 'INVALID_KEY');
  }
}

/** A stream longer than the `maxBytes` it was given; nothing was stored. */
export class UploadTooLargeError extends DistilxrError {
  constructor(readonly maxBytes: number) {
    super(`upload exceeds the limit of ${maxBytes} bytes`, 'UPLOAD_TOO_LARGE');
  }
}

const SEGMENT = /^[A-Za-z0-9._-]+$/;
/** @defaultValue 1024 characters */
const MAX_KEY_LENGTH = 1024;

/** The key's segments; throws InvalidKeyError unless it is a safe relative path. */
export function parseKey(key: string): string[] {
  if (typeof key !== 'string' || key.length === 0) throw new InvalidKeyError(String(key), 'empty');
  if (key.length > MAX_KEY_LENGTH) throw new InvalidKeyError(key.slice(0, 64) + '…', `longer than ${MAX_KEY_LENGTH} characters`);
  if (key.startsWith('/')) throw new InvalidKeyError(key, 'absolute paths are not keys');
  const segments = key.split('/');
  for (const s of segments) {
    if (s === '') throw new InvalidKeyError(key, 'empty path segment');
    if (s === '.' || s === '..') throw new InvalidKeyError(key, `"${s}" segments are not allowed`);
    if (!SEGMENT.test(s)) throw new InvalidKeyError(key, 'segments may only contain A-Z a-z 0-9 . _ -');
  }
  return segments;
}

/** Counts, hashes and limits the bytes flowing through. */
class MeasureStream extends Transform {
  bytes = 0;
  private readonly hash = createHash('sha256');

  constructor(private readonly maxBytes: number) {
    super();
  }

  override _transform(chunk: Buffer | string, _enc: BufferEncoding, done: TransformCallback): void {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    this.bytes += buf.length;
    if (this.bytes > this.maxBytes) {
      done(new UploadTooLargeError(this.maxBytes));
      return;
    }
    this.hash.update(buf);
    done(null, buf);
  }

  digest(): string {
    return this.hash.digest('hex');
  }
}

export class FsArtifactStore implements ArtifactStore {
  readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
  }

  pathOf(key: string): string {
    const path = join(this.root, ...parseKey(key));
    // Belt and braces: the segment rules already make escaping impossible.
    if (!path.startsWith(this.root + sep)) throw new InvalidKeyError(key, 'resolves outside the store');
    return path;
  }

  async putStream(
    key: string,
    data: NodeJS.ReadableStream,
    opts: { maxBytes?: number } = {},
  ): Promise<{ bytes: number; sha256: string }> {
    const target = this.pathOf(key);
    return writeStream(data, () => this.tempPathFor(target), target, opts.maxBytes);
  }

  async putBytes(key: string, data: Uint8Array): Promise<{ bytes: number; sha256: string }> {
    const target = this.pathOf(key);
    const tmp = await this.tempPathFor(target);
    try {
      await writeFile(tmp, data, { flag: 'wx', flush: true });
      await rename(tmp, target);
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
    return { bytes: data.byteLength, sha256: createHash('sha256').update(data).digest('hex') };
  }

  async exists(key: string): Promise<boolean> {
    try {
      await stat(this.pathOf(key));
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw e;
    }
  }

  async remove(key: string): Promise<void> {
    await rm(this.pathOf(key), { recursive: true, force: true });
  }

  async usage(prefix: string): Promise<number> {
    const path = this.pathOf(prefix);
    let entries: Dirent[];
    try {
      const top = await lstat(path);
      if (!top.isDirectory()) return top.size;
      entries = await readdir(path, { recursive: true, withFileTypes: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 0;
      throw e;
    }
    let bytes = 0;
    for (const e of entries) {
      if (!e.isFile()) continue;
      // a file removed while walking (a delete, a checkpoint replaced) counts as gone
      bytes += await lstat(join(e.parentPath, e.name)).then(
        (st) => st.size,
        () => 0,
      );
    }
    return bytes;
  }

  async verify(key: string, sha256: string): Promise<void> {
    await verifyFile(this.pathOf(key), sha256, 'the database', key);
  }

  stage(prefix: string): StagedArtifacts {
    const target = this.pathOf(prefix);
    const dir = join(this.processStagingDir, randomUUID());
    const pathOf = (name: string): string => {
      if (parseKey(name).length !== 1) throw new InvalidKeyError(name, 'a staged file name is one segment');
      return join(dir, name);
    };
    let committed = false;
    return {
      pathOf,
      putStream: async (name, data, opts = {}) => {
        const path = pathOf(name);
        const makeTemp = async (): Promise<string> => {
          await mkdir(dir, { recursive: true });
          return `${path}.tmp`;
        };
        return writeStream(data, makeTemp, path, opts.maxBytes);
      },
      commit: async () => {
        await mkdir(dir, { recursive: true });
        await mkdir(dirname(target), { recursive: true });
        if (await this.exists(prefix)) throw new Error(`artifact ${prefix} exists already; not replaced`);
        await rename(dir, target);
        // the caller records the files in the database next: make the rename itself durable first
        await fsyncDirectory(dirname(target));
        committed = true;
      },
      discard: async () => {
        if (!committed) await rm(dir, { recursive: true, force: true });
      },
    };
  }

  async removeAbandoned(): Promise<number> {
    const incoming = join(this.root, INCOMING_DIR);
    let names: string[];
    try {
      names = await readdir(incoming);
    } catch {
      return 0;
    }
    const host = hostname();
    let removed = 0;
    for (const name of names) {
      if (name === PROCESS_STAGING) continue;
      const parts = name.split('-');
      const pid = Number(parts.at(-2));
      const owner = parts.slice(0, -2).join('-');
      const path = join(incoming, name);
      let abandoned: boolean;
      // same host: abandoned once its process is gone (same pid as ours: an earlier process)
      if (owner === host && Number.isInteger(pid)) abandoned = pid === process.pid || !isProcessAlive(pid);
      else abandoned = Date.now() - (await stat(path).catch(() => ({ mtimeMs: Date.now() }))).mtimeMs > FOREIGN_STAGING_MAX_AGE_MS;
      if (!abandoned) continue;
      await rm(path, { recursive: true, force: true });
      removed++;
    }
    return removed;
  }

  /** This process's staging directory: `.incoming/<host>-<pid>-<random>`. */
  private get processStagingDir(): string {
    return join(this.root, INCOMING_DIR, PROCESS_STAGING);
  }

  /** A unique temporary name in the target's directory (same filesystem, so rename is atomic). */
  private async tempPathFor(target: string): Promise<string> {
    const dir = dirname(target);
    await mkdir(dir, { recursive: true });
    return join(dir, `.${basename(target)}.${randomUUID()}.tmp`);
  }
}

/**
 * Streams `data` into a temporary file (counted, hashed, limited to maxBytes, flushed to disk) and
 * renames it to `target`; on any failure the temporary file is removed and the target untouched.
 */
async function writeStream(
  data: NodeJS.ReadableStream,
  makeTemp: () => Promise<string>,
  target: string,
  maxBytes = Number.POSITIVE_INFINITY,
): Promise<{ bytes: number; sha256: string }> {
  // The source may fail while the directory is being created, before pipeline() listens.
  let earlyError: unknown = null;
  const onEarlyError = (e: unknown) => {
    earlyError ??= e;
  };
  data.on('error', onEarlyError);
  let tmp: string | null = null;
  let out: WriteStream | null = null;
  const measure = new MeasureStream(maxBytes);
  try {
    tmp = await makeTemp();
    if (earlyError !== null) throw earlyError;
    // flush: fsync before close, so the rename never exposes a file whose data is not on disk.
    out = createWriteStream(tmp, { flags: 'wx', flush: true });
    await pipeline(data, measure, out);
    await rename(tmp, target);
  } catch (e) {
    // A stream destroyed while still opening creates its file afterwards: wait for it to close.
    if (out !== null && !out.closed) await new Promise<void>((r) => out!.once('close', () => r()));
    if (tmp !== null) await rm(tmp, { force: true });
    throw e;
  } finally {
    data.removeListener('error', onEarlyError);
  }
  return { bytes: measure.bytes, sha256: measure.digest() };
}

/** fsync of a directory, so a rename into it survives a power loss. */
async function fsyncDirectory(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
