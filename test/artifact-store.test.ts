import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DistilxrError } from '../src/core/util/errors.js';
import { FsArtifactStore, InvalidKeyError, UploadTooLargeError } from '../src/infra/artifacts/fs-artifact-store.js';

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** Every file under dir, relative, recursively. */
async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name).slice(dir.length + 1)).sort();
}

describe('FsArtifactStore', () => {
  let root: string;
  let store: FsArtifactStore;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'distilxr-store-'));
    store = new FsArtifactStore(join(root, 'artifacts'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('stores a stream under its key and reports bytes and sha256', async () => {
    const chunks = [Buffer.from('hello '), Buffer.from('world\n'), Buffer.alloc(100_000, 7)];
    const all = Buffer.concat(chunks);
    const r = await store.putStream('datasets/d1/train.txt', Readable.from(chunks));
    expect(r).toEqual({ bytes: all.length, sha256: sha256(all) });
    expect(store.pathOf('datasets/d1/train.txt')).toBe(join(root, 'artifacts', 'datasets', 'd1', 'train.txt'));
    expect(await readFile(store.pathOf('datasets/d1/train.txt'))).toEqual(all);
    expect(await store.exists('datasets/d1/train.txt')).toBe(true);
    expect(await store.exists('datasets/d1')).toBe(true);
    expect(await store.exists('datasets/d2/train.txt')).toBe(false);
  });

  it('putBytes writes and hashes', async () => {
    const data = new Uint8Array([1, 2, 3, 250]);
    expect(await store.putBytes('teachers/t1/model.onnx', data)).toEqual({ bytes: 4, sha256: sha256(data) });
    expect(new Uint8Array(await readFile(store.pathOf('teachers/t1/model.onnx')))).toEqual(data);
  });

  it('replaces atomically: until the stream ends, readers see the old file and no partial new one', async () => {
    const key = 'models/m1/weights.bin';
    await store.putBytes(key, Buffer.from('old contents'));
    const source = new PassThrough();
    const put = store.putStream(key, source);
    source.write(Buffer.from('new contents, part 1; '));
    await new Promise((r) => setTimeout(r, 50));
    // The new bytes go to a temporary file beside the target; the target is untouched.
    expect(await readFile(store.pathOf(key), 'utf8')).toBe('old contents');
    const during = await listFiles(join(root, 'artifacts', 'models', 'm1'));
    expect(during).toHaveLength(2);
    expect(during.filter((f) => f.endsWith('.tmp'))).toHaveLength(1);
    source.end(Buffer.from('part 2'));
    await put;
    expect(await readFile(store.pathOf(key), 'utf8')).toBe('new contents, part 1; part 2');
    expect(await listFiles(join(root, 'artifacts', 'models', 'm1'))).toEqual(['weights.bin']);
  });

  it('a failing source leaves the old file and no temporary file', async () => {
    const key = 'models/m2/config.json';
    await store.putBytes(key, Buffer.from('{}'));
    const source = new PassThrough();
    const put = store.putStream(key, source);
    source.write('{"partial":');
    source.destroy(new Error('client went away'));
    await expect(put).rejects.toThrow('client went away');
    expect(await readFile(store.pathOf(key), 'utf8')).toBe('{}');
    expect(await listFiles(join(root, 'artifacts', 'models', 'm2'))).toEqual(['config.json']);
  });

  it('refuses keys that could escape the store or are not plain segments', async () => {
    const bad = ['../x', '/etc/passwd', 'a/../../b', 'a\\b', '', '..', '.', 'a//b', 'a/', 'a/./b', 'a b', 'é', 'a/b:c', '~/x', 'a\0b'];
    for (const key of bad) {
      expect(() => store.pathOf(key), key).toThrow(InvalidKeyError);
      await expect(store.putBytes(key, new Uint8Array(1)), key).rejects.toThrow(InvalidKeyError);
      await expect(store.putStream(key, Readable.from([Buffer.from('x')])), key).rejects.toThrow(InvalidKeyError);
      await expect(store.exists(key), key).rejects.toThrow(InvalidKeyError);
      await expect(store.remove(key), key).rejects.toThrow(InvalidKeyError);
    }
    const e = (() => {
      try {
        store.pathOf('../x');
      } catch (err) {
        return err;
      }
    })();
    expect(e).toBeInstanceOf(DistilxrError);
    expect((e as DistilxrError).code).toBe('INVALID_KEY');
    expect((e as Error).message).toContain('"../x"');
    // Nothing was written anywhere near the root.
    expect((await readdir(root)).sort()).toEqual(['artifacts']);
  });

  it('accepts dotted and dashed segments', () => {
    expect(store.pathOf('a/.hidden/v1.2_x-y')).toBe(join(root, 'artifacts', 'a', '.hidden', 'v1.2_x-y'));
    expect(store.pathOf('...')).toBe(join(root, 'artifacts', '...'));
  });

  it('enforces maxBytes: rejects with UploadTooLargeError and leaves no file behind', async () => {
    const key = 'datasets/big/train.txt';
    const chunks = Array.from({ length: 20 }, () => Buffer.alloc(1000, 1));
    const put = store.putStream(key, Readable.from(chunks), { maxBytes: 5500 });
    await expect(put).rejects.toThrow(UploadTooLargeError);
    await expect(store.putStream(key, Readable.from(chunks), { maxBytes: 5500 })).rejects.toThrow('5500 bytes');
    expect(await store.exists(key)).toBe(false);
    expect(await listFiles(join(root, 'artifacts', 'datasets', 'big'))).toEqual([]);

    // Exactly at the limit is fine.
    const ok = await store.putStream(key, Readable.from(chunks.slice(0, 5)), { maxBytes: 5000 });
    expect(ok.bytes).toBe(5000);
    expect(await listFiles(join(root, 'artifacts', 'datasets', 'big'))).toEqual(['train.txt']);
  });

  it('an oversized replacement keeps the previous file', async () => {
    const key = 'datasets/big2/train.txt';
    await store.putBytes(key, Buffer.from('v1'));
    await expect(store.putStream(key, Readable.from([Buffer.alloc(10)]), { maxBytes: 5 })).rejects.toThrow(UploadTooLargeError);
    expect(await readFile(store.pathOf(key), 'utf8')).toBe('v1');
    expect(await listFiles(join(root, 'artifacts', 'datasets', 'big2'))).toEqual(['train.txt']);
  });

  it('remove deletes a key or a whole prefix; removing a missing key is fine', async () => {
    await store.putBytes('jobs/j1/ckpt/a.bin', new Uint8Array(3));
    await store.putBytes('jobs/j1/ckpt/b.bin', new Uint8Array(3));
    await store.putBytes('jobs/j1/log.txt', new Uint8Array(3));
    await store.remove('jobs/j1/ckpt/a.bin');
    expect(await store.exists('jobs/j1/ckpt/a.bin')).toBe(false);
    expect(await store.exists('jobs/j1/ckpt/b.bin')).toBe(true);
    await store.remove('jobs/j1');
    expect(await store.exists('jobs/j1')).toBe(false);
    await store.remove('jobs/never');
  });

  it('a relative root is resolved', () => {
    const rel = new FsArtifactStore('relative-store-dir');
    expect(rel.pathOf('x')).toBe(join(process.cwd(), 'relative-store-dir', 'x'));
  });
});
