/**
 * The API process killed (SIGKILL) in the middle of two uploads, a dataset and a teacher, streamed
 * slowly over real HTTP: no dataset or teacher row appears, no file is left under the artifact
 * directories (the partial files sat in the staging area, which the restarted process removes),
 * and the restarted service, on the same DATA_DIR and database, works. Then a byte flipped in the
 * stored files of a good upload is caught by its checksum, with an error naming the file.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { request } from 'node:http';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../src/core/util/rng.js';
import { ArtifactIntegrityError } from '../src/core/util/checksums.js';
import { openDatabase, type Database } from '../src/infra/db/db.js';
import { FsArtifactStore, INCOMING_DIR } from '../src/infra/artifacts/fs-artifact-store.js';
import { PrismaRepository } from '../src/infra/db/prisma-repository.js';
import { buildJobTask } from '../src/worker/job-task.js';
import { waitFor } from './support/jobs.js';
import { form } from './support/multipart.js';
import { freePort } from './support/ports.js';
import { randomTeacherOnnx } from './support/random-teacher.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PG_URL = process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/test';

/** Every file under dir (relative paths), or [] when dir does not exist. */
async function filesUnder(dir: string): Promise<string[]> {
  try {
    const entries = await readdir(dir, { recursive: true, withFileTypes: true });
    return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name).slice(dir.length + 1)).sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}

interface ApiChild {
  child: ChildProcess;
  url: string;
  output(): string;
}

/** `distilxr serve` as a child process; resolves once /healthz answers. */
async function startApi(env: Record<string, string>): Promise<ApiChild> {
  let out = '';
  const child = spawn(process.execPath, ['bin/distilxr.js', 'serve'], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  const url = `http://127.0.0.1:${env.PORT}`;
  await waitFor(
    'the API to answer /healthz',
    async () => {
      if (child.exitCode !== null) throw new Error(`API exited (${child.exitCode}) before it was up:\n${out}`);
      return fetch(`${url}/healthz`).then((r) => r.ok, () => false);
    },
    40_000,
    100,
  );
  return { child, url, output: () => out };
}

async function kill(api: ApiChild): Promise<void> {
  if (api.child.exitCode !== null || api.child.signalCode !== null) return;
  const gone = new Promise((r) => api.child.once('exit', r));
  api.child.kill('SIGKILL');
  await gone;
}

/**
 * A multipart upload of one file part, written in `chunk`s every `everyMs` and never finished:
 * the server sees a slow client mid-upload. Returns how many bytes went out so far.
 */
function slowUpload(url: string, path: string, field: string, filename: string, first: Buffer, chunk: Buffer, everyMs: number): { sent: () => number; stop: () => void } {
  const boundary = `----distilxr-${randomUUID()}`;
  const req = request(`${url}${path}`, { method: 'POST', headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } });
  req.on('error', () => undefined); // the server is killed under it: ECONNRESET is the point
  let sent = 0;
  const write = (b: Buffer | string): void => {
    req.write(b);
    sent += Buffer.byteLength(b);
  };
  write(`--${boundary}\r\nContent-Disposition: form-data; name="${field}"; filename="${filename}"\r\nContent-Type: application/octet-stream\r\n\r\n`);
  write(first);
  const timer = setInterval(() => {
    if (req.destroyed) clearInterval(timer);
    else write(chunk);
  }, everyMs);
  return {
    sent: () => sent,
    stop: () => {
      clearInterval(timer);
      req.destroy();
    },
  };
}

/** An ONNX teacher meeting the contract (random weights). */
function teacherOnnx(inputDim: number, numLabels: number): Uint8Array {
  return randomTeacherOnnx({ inputDim, hiddenDim: 8, numLabels, seed: 3 });
}

/** A small valid XC file: `points` rows over 50 features and 10 labels. */
function xcFile(points: number, seed: number): Buffer {
  const rng = new Rng(seed);
  const lines = [`${points} 50 10`];
  for (let i = 0; i < points; i++) {
    const f = [...new Set(Array.from({ length: 5 }, () => Math.floor(rng.next() * 50)))].sort((a, b) => a - b);
    lines.push(`${i % 10},${(i + 3) % 10} ${f.map((x) => `${x}:${(0.5 + rng.next()).toFixed(3)}`).join(' ')}`);
  }
  return Buffer.from(lines.join('\n') + '\n');
}

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

describe('API killed during uploads', () => {
  const schema = `faults_upload_${randomUUID().slice(0, 8)}`;
  let dataDir: string;
  let env: Record<string, string>;
  let api: ApiChild | null = null;
  let db: Database;
  let repo: PrismaRepository;
  const artifacts = (): string => join(dataDir, 'artifacts');

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'distilxr-faults-upload-'));
    env = {
      DATA_DIR: dataDir,
      DATABASE_URL: `${PG_URL}?schema=${schema}`,
      PORT: String(await freePort()),
      REDIS_PREFIX: `faults-upload-${randomUUID().slice(0, 8)}`,
      LOG_LEVEL: 'warn',
      API_KEYS: '',
    };
  });

  afterAll(async () => {
    if (api) await kill(api);
    if (db) {
      await db.prisma.$executeRawUnsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await db.close();
    }
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('leaves no dataset, no teacher and no file behind, and the restarted service works', async () => {
    api = await startApi(env);
    // ~1.5 MB of a valid XC file, then more rows every 20 ms: the upload is still going when killed
    const row = Buffer.from('0,1 0:1.0 5:0.5 9:0.25\n');
    const dataset = slowUpload(api.url, '/v1/datasets', 'train', 'big.txt', Buffer.concat([Buffer.from('1000000 10 2\n'), Buffer.from(row.toString().repeat(65_000))]), Buffer.from(row.toString().repeat(2000)), 20);
    const teacher = slowUpload(api.url, '/v1/teachers', 'model', 'big.onnx', Buffer.alloc(1 << 20, 7), Buffer.alloc(64 << 10, 9), 20);
    // both uploads have reached the disk (staged) before the kill
    const staged = await waitFor(
      'both uploads to be on disk',
      async () => {
        const files = await filesUnder(join(artifacts(), INCOMING_DIR));
        const sizes = await Promise.all(files.map(async (f) => (await stat(join(artifacts(), INCOMING_DIR, f))).size));
        return files.length === 2 && sizes.every((s) => s > 512 << 10) ? files : null;
      },
      20_000,
      25,
    );
    await kill(api);
    dataset.stop();
    teacher.stop();
    console.log(`faults-upload: killed after ${dataset.sent()} + ${teacher.sent()} bytes sent; staged: ${staged.join(', ')}`);
    // nothing was ever moved under datasets/ or teachers/: the partial files are only in staging
    expect(await filesUnder(join(artifacts(), 'datasets'))).toEqual([]);
    expect(await filesUnder(join(artifacts(), 'teachers'))).toEqual([]);
    expect((await filesUnder(join(artifacts(), INCOMING_DIR))).length).toBe(2);

    const t0 = performance.now();
    api = await startApi(env);
    console.log(`faults-upload: restarted and healthy in ${Math.round(performance.now() - t0)} ms`);
    // the dead process's staging area is gone: no file at all under the artifact directory
    expect(await filesUnder(artifacts())).toEqual([]);
    db = await openDatabase({ databaseUrl: env.DATABASE_URL, dataDir });
    repo = new PrismaRepository(db.prisma);
    expect(await repo.listDatasets()).toEqual([]);
    expect(await repo.listTeachers()).toEqual([]);
    expect((await (await fetch(`${api.url}/v1/datasets`)).json()).datasets).toEqual([]);
    expect((await (await fetch(`${api.url}/v1/teachers`)).json()).teachers).toEqual([]);

    // the service works: a dataset and a teacher upload, each stored with its sha256
    const train = xcFile(200, 1);
    const ds = await fetch(`${api.url}/v1/datasets`, { method: 'POST', body: form({ train: { data: train, filename: 'train.txt' } }) });
    expect(ds.status, await ds.clone().text()).toBe(201);
    const datasetId = (await ds.json()).id as string;
    const onnx = teacherOnnx(50, 10);
    const tr = await fetch(`${api.url}/v1/teachers`, { method: 'POST', body: form({ model: { data: onnx, filename: 'teacher.onnx' } }) });
    expect(tr.status, await tr.clone().text()).toBe(201);
    const teacherId = (await tr.json()).id as string;

    const d = (await repo.getDataset(datasetId))!;
    const t = (await repo.getTeacher(teacherId))!;
    expect(d.trainSha256).toBe(sha256(train));
    expect(t.sha256).toBe(sha256(onnx));
    expect(await filesUnder(artifacts())).toEqual([`datasets/${datasetId}/train`, `teachers/${teacherId}/teacher.onnx`]);

    // a byte flipped on disk: the job that would read the file refuses it, naming the file
    const store = new FsArtifactStore(artifacts());
    const job = await repo.createJob({ id: randomUUID(), kind: 'train', datasetId, teacherId, params: { dim: 8, epochs: 1 } });
    await expect(buildJobTask(job, repo, store, { cacheDir: false })).resolves.toBeTruthy();
    const flip = async (key: string): Promise<Buffer> => {
      const path = store.pathOf(key);
      const original = await readFile(path);
      const bad = Buffer.from(original);
      bad[Math.floor(bad.length / 2)] ^= 0x01;
      await writeFile(path, bad);
      return original;
    };
    const trainOriginal = await flip(d.trainKey);
    const e1 = await buildJobTask(job, repo, store, { cacheDir: false }).catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(ArtifactIntegrityError);
    expect((e1 as Error).message).toMatch(new RegExp(`^datasets/${datasetId}/train: sha256 [0-9a-f]{64} does not match ${d.trainSha256} recorded in the database`));
    await writeFile(store.pathOf(d.trainKey), trainOriginal);
    await flip(t.key);
    await expect(buildJobTask(job, repo, store, { cacheDir: false })).rejects.toThrow(`teachers/${teacherId}/teacher.onnx: sha256`);
  }, 90_000);
});
