/**
 * Artifacts on disk are only used when they match the checksum recorded when they were written:
 * model directories (checksums.json, written by publishModel, checked by loadModel), and the
 * artifact store's staged groups (an upload appears under its prefix whole, or not at all; the
 * staging files of dead processes are removed, those of live ones kept).
 */
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LabelIndex } from '../src/ann/hnsw-index.js';
import { Rng } from '../src/core/util/rng.js';
import { Student } from '../src/core/model/student.js';
import { DEFAULT_TRAIN_CONFIG } from '../src/core/model/train-config.js';
import { isProcessAlive } from '../src/core/util/atomic-write.js';
import { ArtifactIntegrityError } from '../src/core/util/checksums.js';
import { FILES, loadModel, publishModel } from '../src/pipeline/model-dir.js';
import { FsArtifactStore, INCOMING_DIR } from '../src/infra/artifacts/fs-artifact-store.js';

/** A pid no process has (so a staging directory named after it is abandoned). */
function deadPid(): number {
  for (let pid = 4_000_000; ; pid--) if (!isProcessAlive(pid)) return pid;
}

describe('model directory checksums', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'distilxr-model-sums-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** Publishes a small random model into dir/name. */
  async function publish(name: string): Promise<string> {
    const rng = new Rng(11);
    const shape = { inputDim: 30, dim: 4, numLabels: 12, tau: 1 };
    const student = new Student(shape, Float32Array.from({ length: 30 * 4 }, () => rng.normal()), Float32Array.from({ length: 12 * 4 }, () => rng.normal()));
    const index = LabelIndex.build(student.V, 12, 4);
    return publishModel({
      dir: join(dir, name),
      student,
      index,
      config: { numFeatures: 30, train: DEFAULT_TRAIN_CONFIG, hnsw: { M: 16, efConstruction: 200, efSearch: 50 }, input: 'features' },
      labelCounts: new Float32Array(12).fill(1),
      trainPoints: 100,
    });
  }

  it('lists every file of the directory and loads when they match', async () => {
    const m = await publish('ok');
    const sums = JSON.parse(await readFile(join(m, FILES.checksums), 'utf8'));
    const files = (await readdir(m)).filter((f) => f !== FILES.checksums).sort();
    expect(Object.keys(sums.files).sort()).toEqual(files);
    expect(files).toEqual(expect.arrayContaining([FILES.config, FILES.weights, FILES.index, `${FILES.index}.json`, FILES.onnx]));
    expect((await loadModel(m)).student.shape.numLabels).toBe(12);
  });

  it.each([FILES.weights, FILES.onnx, FILES.labels, FILES.config])('a flipped byte in %s is refused, naming the file', async (file) => {
    const m = await publish(`flip-${file}`);
    const path = join(m, file);
    const bytes = await readFile(path);
    bytes[bytes.length >> 1] ^= 0x20;
    await writeFile(path, bytes);
    const e = await loadModel(m).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(ArtifactIntegrityError);
    expect((e as Error).message).toMatch(new RegExp(`^${path.replaceAll('.', '\\.')}: sha256 [0-9a-f]{64} does not match [0-9a-f]{64} recorded in .*checksums\\.json; the file is corrupt or was replaced$`));
  });

  it('a missing or tampered checksums.json is refused', async () => {
    const m = await publish('no-sums');
    const sumsPath = join(m, FILES.checksums);
    const sums = JSON.parse(await readFile(sumsPath, 'utf8'));
    await writeFile(sumsPath, JSON.stringify({ ...sums, files: { ...sums.files, '../escape': sums.files[FILES.config] } }));
    await expect(loadModel(m)).rejects.toThrow('invalid file name "../escape"');
    delete sums.files[FILES.weights];
    await writeFile(sumsPath, JSON.stringify(sums));
    await expect(loadModel(m)).rejects.toThrow(`has no checksum for ${FILES.weights}`);
    await rm(sumsPath);
    await expect(loadModel(m)).rejects.toThrow(/checksums\.json: cannot read the model's checksums: missing/);
  });

  it('publishing removes what a killed earlier attempt left, and nothing of a live one', async () => {
    const dead = join(dir, `.again.tmp-${deadPid()}-1`);
    const live = join(dir, `.again.tmp-${process.pid}-1`);
    await mkdir(dead);
    await mkdir(live);
    await writeFile(join(dead, FILES.weights), 'half');
    await publish('again');
    expect((await readdir(dir)).filter((n) => n.startsWith('.again.'))).toEqual([`.again.tmp-${process.pid}-1`]);
  });
});

describe('staged uploads in the artifact store', () => {
  let root: string;
  let store: FsArtifactStore;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'distilxr-staging-'));
    store = new FsArtifactStore(join(root, 'artifacts'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('files appear under the prefix only on commit, all at once', async () => {
    const staged = store.stage('datasets/d1');
    const source = new PassThrough();
    const put = staged.putStream('train', source);
    source.write('3 4 2\n');
    await new Promise((r) => setTimeout(r, 20));
    expect(await store.exists('datasets/d1')).toBe(false);
    source.end('0 0:1\n');
    expect(await put).toMatchObject({ bytes: 12 });
    await staged.putStream('test', Readable.from([Buffer.from('x')]));
    expect(await readFile(staged.pathOf('train'), 'utf8')).toBe('3 4 2\n0 0:1\n');
    expect(await store.exists('datasets/d1')).toBe(false);
    await staged.commit();
    expect((await readdir(store.pathOf('datasets/d1'))).sort()).toEqual(['test', 'train']);
    // a second group for the same prefix never replaces the first
    const again = store.stage('datasets/d1');
    await again.putStream('train', Readable.from([Buffer.from('other')]));
    await expect(again.commit()).rejects.toThrow('datasets/d1 exists already');
    await again.discard();
    expect(await readFile(store.pathOf('datasets/d1/train'), 'utf8')).toBe('3 4 2\n0 0:1\n');
  });

  it('discard leaves nothing; staged names are single segments', async () => {
    const staged = store.stage('teachers/t1');
    await staged.putStream('teacher.onnx', Readable.from([Buffer.alloc(100)]));
    await staged.discard();
    expect(await store.exists('teachers/t1')).toBe(false);
    expect(() => staged.pathOf('../x')).toThrow('invalid artifact key');
    expect(() => staged.pathOf('a/b')).toThrow('one segment');
  });

  it('verify names the key of a file that changed', async () => {
    const { sha256 } = await store.putBytes('datasets/v/train', Buffer.from('1 1 1\n0 0:1\n'));
    await store.verify('datasets/v/train', sha256);
    await writeFile(store.pathOf('datasets/v/train'), '1 1 1\n0 0:2\n');
    await expect(store.verify('datasets/v/train', sha256)).rejects.toThrow(/^datasets\/v\/train: sha256 [0-9a-f]{64} does not match/);
    await expect(store.verify('datasets/none/train', sha256)).rejects.toThrow('datasets/none/train: cannot be read for its checksum (ENOENT)');
  });

  it('removeAbandoned removes the staging of dead processes of this host, keeps live and recent foreign ones', async () => {
    const incoming = join(root, 'artifacts', INCOMING_DIR);
    const dead = join(incoming, `${hostname()}-${deadPid()}-abcd1234`);
    const otherHost = join(incoming, `some-other-host-${deadPid()}-abcd1234`);
    await mkdir(join(dead, 'u1'), { recursive: true });
    await writeFile(join(dead, 'u1', 'train.tmp'), 'partial');
    await mkdir(otherHost, { recursive: true });
    // an earlier process with our pid (a restarted container): abandoned too
    const samePid = join(incoming, `${hostname()}-${process.pid}-0000dead`);
    await mkdir(samePid, { recursive: true });
    // this process's own staging directory is in use
    const mine = store.stage('datasets/live');
    await mine.putStream('train', Readable.from([Buffer.from('x')]));
    expect(await store.removeAbandoned()).toBe(2);
    const left = await readdir(incoming);
    expect(left).toContain(otherHost.slice(incoming.length + 1)); // another host's: only removed once a day old
    expect(left.some((n) => n.startsWith(`${hostname()}-${process.pid}-`))).toBe(true);
    expect(left).not.toContain(dead.slice(incoming.length + 1));
    expect(left).not.toContain(samePid.slice(incoming.length + 1));
    await mine.commit();
    expect(await store.exists('datasets/live/train')).toBe(true);
  });
});
