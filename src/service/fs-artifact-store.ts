/**
 * ArtifactStore on a local directory (DATA_DIR/artifacts, or a volume shared by all workers).
 * Writes go to a temporary file next to the target and are renamed into place, so readers see
 * either the old file or the whole new one, never a partial write.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DistilxrError } from '../core/errors.js';
import type { ArtifactStore } from './artifact-store.js';

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
    // The source may fail while the directory is being created, before pipeline() listens.
    let earlyError: unknown = null;
    const onEarlyError = (e: unknown) => {
      earlyError ??= e;
    };
    data.on('error', onEarlyError);
    let tmp: string | null = null;
    let out: WriteStream | null = null;
    const measure = new MeasureStream(opts.maxBytes ?? Number.POSITIVE_INFINITY);
    try {
      tmp = await this.tempPathFor(target);
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

  /** A unique temporary name in the target's directory (same filesystem, so rename is atomic). */
  private async tempPathFor(target: string): Promise<string> {
    const dir = dirname(target);
    await mkdir(dir, { recursive: true });
    return join(dir, `.${basename(target)}.${randomUUID()}.tmp`);
  }
}
