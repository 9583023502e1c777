/**
 * Table "Workers": the scoring stage of one job on an expensive teacher, with its scoring fanned
 * out (WORKER_SCORE_SHARD_PAIRS) to 1 and then 2 `distilxr worker` processes, and, for reference,
 * 1 process scoring in-process (WORKER_SCORE_SHARD_PAIRS=0, no chunks). Each process is held to
 * one thread of work: WORKER_CONCURRENCY 1, ONNX Runtime intra-op 1 (the worker's default), the
 * student on 1 thread.
 *
 *   npm run bench:workers [-- --reps 3 --points 40000 --labels 4000 --hidden 2048 --pool 100 --shards 16 --json workers.json]
 *   npm run bench:workers -- --text-teacher BUNDLE [--data ../shared/datasets/debtags] [--points N] --json workers-text.json
 *
 * With --text-teacher, the teacher is that text-teacher bundle (a transformer: the expensive kind
 * users bring) on the JSONL data of --data (its first --points training rows, 200 test rows);
 * chunks are sized by transformer runs: one per row, or per pool pair for a cross-encoder.
 *
 * Otherwise the teacher is expensive by size only: a sparse encoder with a wide hidden layer and a logits
 * head over every label (the baseline teacher's shape, larger; random weights: its quality is
 * beside the point), so its work is dense matrix products. A teacher that gathers candidate rows
 * from a large table instead (`scores` output) is bound by memory, and two processes on this
 * machine scored no faster than one even without any queue. Runs alternate between the set-ups,
 * order rotated every repetition, after one warm-up run that builds the workers' parsed copy of
 * the data; the scoring stage's seconds are the job's own (`stageSeconds.scoring` of its metrics
 * event). Each repetition ends with the ceiling: the teacher scoring fixed rows in 1 process, then
 * in 2 processes at once, without the queue: what a second process can add on this machine then.
 * Needs PostgreSQL and Redis on 127.0.0.1 (a schema and a key prefix of its own, removed after).
 * Benchmark, not a test: prints a markdown table, writes bench/results/workers.json (or --json).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Queue } from 'bullmq';
import { loadTrainTest } from '../src/core/data/load-dataset.js';
import { Rng } from '../src/core/util/rng.js';
import { FsArtifactStore } from '../src/infra/artifacts/fs-artifact-store.js';
import { openDatabase } from '../src/infra/db/db.js';
import { PrismaRepository } from '../src/infra/db/prisma-repository.js';
import { BullJobQueue, redisConnectionFromUrl } from '../src/infra/queue/bull-job-queue.js';
import { exportSparseEncoderOnnx } from '../src/teacher/onnx-export.js';
import { OnnxTeacher } from '../src/teacher/onnx-teacher.js';
import { loadJobTeacher } from '../src/pipeline/job-teacher.js';
import { TEXT_RUN_WORK } from '../src/pipeline/score-fan-out.js';
import { addDataset } from '../test/support/jobs.js';
import { addJsonlDataset, addTextTeacher } from '../test/support/text-bundles.js';
import { parseManifest } from '../src/teacher/text/bundle-manifest.js';
import { MANIFEST_FILE, MODEL_FILE } from '../src/teacher/text/text-bundle.js';
import { mdTable, machineInfo, median, positiveInt, REPO_ROOT, RESULTS_DIR, writeJson } from './lib.js';

const { values: args } = parseArgs({
  options: {
    reps: { type: 'string', default: '3' },
    points: { type: 'string', default: '40000' },
    labels: { type: 'string', default: '4000' },
    features: { type: 'string', default: '5000' },
    hidden: { type: 'string', default: '2048' },
    pool: { type: 'string', default: '100' },
    shards: { type: 'string', default: '16' },
    'text-teacher': { type: 'string' },
    data: { type: 'string', default: '../shared/datasets/debtags' },
    /** File name of the raw results under bench/results/. */
    json: { type: 'string', default: 'workers.json' },
    // internal: one process of the ceiling runs (scores CEILING_ROWS rows with this teacher file)
    'ceiling-child': { type: 'string' },
    // internal, with a text teacher: the training file its ceiling rows come from
    'ceiling-data': { type: 'string' },
  },
});
const REPS = positiveInt('reps', args.reps);
const POINTS = positiveInt('points', args.points);
const LABELS = positiveInt('labels', args.labels);
const FEATURES = positiveInt('features', args.features);
const HIDDEN = positiveInt('hidden', args.hidden);
const POOL = positiveInt('pool', args.pool);
const SHARDS = positiveInt('shards', args.shards);
/** Rows one ceiling process scores (a text teacher: a transformer run per row). */
const CEILING_ROWS = args['text-teacher'] || args['ceiling-data'] ? 2048 : 8192;
/** Few test points: the teacher's evaluation (every test point × every label) is not what is timed. */
const TEST_POINTS = 200;
const PARAMS = { dim: 32, epochs: 1, remineEvery: 0, poolSize: POOL, hardNegatives: 10, alpha: 0.5, threads: 1, crossFit: false };

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const PG_URL = process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/test';

interface Setup {
  key: string;
  label: string;
  processes: number;
  shardPairs: number;
}
const setupsFor = (shardPairs: number): Setup[] => [
  { key: 'one', label: '1 process, chunks', processes: 1, shardPairs },
  { key: 'two', label: '2 processes, chunks', processes: 2, shardPairs },
  { key: 'inProcess', label: '1 process, in-process (no chunks)', processes: 1, shardPairs: 0 },
];

/** The job's data and teacher, stored and registered. */
interface BenchData {
  datasetId: string;
  teacherId: string;
  /** Work per chunk: about SHARDS chunks of one scoring call. */
  shardPairs: number;
  /** The ceiling child's arguments after its script. */
  ceilingArgs: string[];
  settings: Record<string, unknown>;
}

interface Run {
  setup: string;
  rep: number;
  scoringSeconds: number;
  jobSeconds: number;
  pairsScored: number;
  loadBefore: number;
  loadAfter: number;
  /** Per worker process: the job's score chunks it took. */
  chunks: ChunkUse[];
}

interface ChunkUse {
  process: string;
  chunks: number;
  /** Chunks that loaded the job's features and model themselves: the warm-up had not reached the process. */
  coldChunks: number;
  busySeconds: number;
  /** The first chunk's seconds: it loads the job's features and model into the chunk thread. */
  firstChunkSeconds: number;
  /** Seconds between its first chunk's start and its last one's end when it scored nothing. */
  waitSeconds: number;
}

interface Ceiling {
  processes: number;
  rep: number;
  /** Rows scored per second, summed over the processes. */
  rowsPerSecond: number;
  loadBefore: number;
  loadAfter: number;
}

const say = (s: string): void => console.error(s);

async function main(): Promise<void> {
  const schema = `bench_workers_${randomUUID().slice(0, 8)}`;
  const databaseUrl = `${PG_URL}?schema=${schema}`;
  const prefix = `bw-${randomUUID().slice(0, 8)}`;
  const dataDir = await mkdtemp(join(tmpdir(), 'distilxr-bench-workers-'));
  const db = await openDatabase({ databaseUrl, dataDir });
  const repo = new PrismaRepository(db.prisma);
  const store = new FsArtifactStore(join(dataDir, 'artifacts'));
  const queue = new BullJobQueue(redisConnectionFromUrl(REDIS_URL), { prefix });
  const live: ChildProcess[] = [];
  try {
    const bench = args['text-teacher'] ? await textData(repo, store, args['text-teacher'], args.data!) : await syntheticData(repo, store);
    const { datasetId, teacherId } = bench;
    const SETUPS = setupsFor(bench.shardPairs);

    /** One job on `setup`'s worker processes, started for it and stopped after. */
    const runOnce = async (setup: Setup, rep: number): Promise<Run> => {
      const env = { ...process.env, DATA_DIR: dataDir, DATABASE_URL: databaseUrl, REDIS_URL, REDIS_PREFIX: prefix, WORKER_CONCURRENCY: '1', WORKER_SCORE_SHARD_PAIRS: String(setup.shardPairs), LOG_LEVEL: 'info' };
      const procs = Array.from({ length: setup.processes }, () => startWorker(env));
      live.push(...procs);
      try {
        await Promise.all(procs.map(readyOf));
        const loadBefore = loadavg()[0];
        const id = randomUUID();
        await repo.createJob({ id, kind: 'train', datasetId, teacherId, params: PARAMS });
        await queue.enqueue({ jobId: id, kind: 'train' });
        for (;;) {
          await new Promise((r) => setTimeout(r, 500));
          const job = await repo.getJob(id);
          if (job?.status === 'completed') break;
          if (job && (job.status === 'failed' || job.status === 'cancelled')) throw new Error(`job ${job.status}: ${job.error}`);
        }
        const job = (await repo.getJob(id))!;
        const metrics = (await repo.listJobEvents(id, { types: ['metrics'] }))[0].data as { stageSeconds: Record<string, number>; pairsScored: number };
        const chunks = procs.map((p, i) => chunkUse(`process ${i + 1}`, p, id));
        const run = { setup: setup.key, rep, scoringSeconds: metrics.stageSeconds.scoring, jobSeconds: (job.finishedAt!.getTime() - job.startedAt!.getTime()) / 1000, pairsScored: metrics.pairsScored, loadBefore, loadAfter: loadavg()[0], chunks };
        say(`rep ${rep} ${setup.label}: scoring ${run.scoringSeconds.toFixed(1)} s (job ${run.jobSeconds.toFixed(1)} s, ${run.pairsScored} pairs, load ${loadBefore.toFixed(1)} → ${run.loadAfter.toFixed(1)})`);
        for (const c of chunks) say(`  ${c.process}: ${c.chunks} chunks (${c.coldChunks} loading the model), busy ${c.busySeconds.toFixed(1)} s, first chunk ${c.firstChunkSeconds.toFixed(2)} s, waited for work ${c.waitSeconds.toFixed(1)} s`);
        return run;
      } finally {
        await Promise.all(procs.map(stop));
      }
    };

    /**
     * What a second process can add on this machine now, without the queue: the same teacher
     * scoring a fixed set of rows in 1 process, then in 2 at once (rows/s summed over both).
     */
    const ceiling = async (processes: number, rep: number): Promise<Ceiling> => {
      const loadBefore = loadavg()[0];
      const rates = await Promise.all(Array.from({ length: processes }, () => ceilingChild(bench.ceilingArgs)));
      const c = { processes, rep, rowsPerSecond: rates.reduce((a, b) => a + b, 0), loadBefore, loadAfter: loadavg()[0] };
      say(`rep ${rep} ceiling, ${processes} process(es): ${c.rowsPerSecond.toFixed(0)} rows/s (load ${loadBefore.toFixed(1)} → ${c.loadAfter.toFixed(1)})`);
      return c;
    };

    say('warm-up (builds the parsed copy of the data)');
    await runOnce(SETUPS[0], 0);
    const runs: Run[] = [];
    const ceilings: Ceiling[] = [];
    for (let rep = 1; rep <= REPS; rep++) {
      const order = SETUPS.map((_, i) => SETUPS[(i + rep - 1) % SETUPS.length]);
      for (const s of order) runs.push(await runOnce(s, rep));
      ceilings.push(await ceiling(1, rep), await ceiling(2, rep));
    }
    const ceilingRatio = median(ceilings.filter((c) => c.processes === 2).map((c) => c.rowsPerSecond)) / median(ceilings.filter((c) => c.processes === 1).map((c) => c.rowsPerSecond));

    const med = (key: string, f: (r: Run) => number): number => median(runs.filter((r) => r.setup === key).map(f));
    const base = med('one', (r) => r.scoringSeconds);
    const rows = SETUPS.map((s) => [
      s.label,
      med(s.key, (r) => r.scoringSeconds).toFixed(1),
      runs.filter((r) => r.setup === s.key).map((r) => r.scoringSeconds.toFixed(1)).join(', '),
      `${(base / med(s.key, (r) => r.scoringSeconds)).toFixed(2)}×`,
      med(s.key, (r) => r.jobSeconds).toFixed(1),
    ]);
    const table = mdTable(['set-up', 'scoring stage, median s', 'runs, s', 'vs 1 process with chunks', 'whole job, median s'], rows);
    const loads = runs.flatMap((r) => [r.loadBefore, r.loadAfter]);
    console.log(table);
    const twoVsInProcess = med('inProcess', (r) => r.scoringSeconds) / med('two', (r) => r.scoringSeconds);
    console.log(`\n2 processes against 1 scoring in-process (no chunks): ${twoVsInProcess.toFixed(2)}×`);
    console.log(`\n1-minute load average during the runs: ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)} (2 cores)`);
    console.log(`Ceiling (the same teacher scoring ${CEILING_ROWS} rows in 1 process, then in 2 at once, no queue): 2 processes give ${ceilingRatio.toFixed(2)}× the rows/s of 1 (runs: ${ceilings.map((c) => `${c.processes}p ${c.rowsPerSecond.toFixed(0)}`).join(', ')})`);
    await writeJson(join(RESULTS_DIR, args.json), {
      machine: machineInfo(),
      settings: { reps: REPS, testPoints: TEST_POINTS, pool: POOL, shardPairs: bench.shardPairs, params: PARAMS, ...bench.settings },
      runs,
      ceilings,
      ceilingRatio,
      medians: Object.fromEntries(SETUPS.map((s) => [s.key, { scoringSeconds: med(s.key, (r) => r.scoringSeconds), jobSeconds: med(s.key, (r) => r.jobSeconds) }])),
      speedupTwoVsOne: base / med('two', (r) => r.scoringSeconds),
      speedupTwoVsInProcess: twoVsInProcess,
    });
  } finally {
    for (const p of live) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    await queue.queue.obliterate({ force: true }).catch(() => undefined);
    const scores = new Queue(`${queue.name}-scores`, { connection: redisConnectionFromUrl(REDIS_URL), prefix });
    await scores.obliterate({ force: true }).catch(() => undefined);
    await scores.close();
    await queue.close();
    await db.prisma.$executeRawUnsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await db.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

/** Generated XC data and a wide random logits teacher. */
async function syntheticData(repo: PrismaRepository, store: FsArtifactStore): Promise<BenchData> {
  const datasetId = await addDataset(repo, store, { points: POINTS, testPoints: TEST_POINTS, features: FEATURES, labels: LABELS, seed: 7 });
  const rng = new Rng(5);
  const onnx = exportSparseEncoderOnnx({
    inputDim: FEATURES,
    hiddenDim: HIDDEN,
    W1: Float32Array.from({ length: FEATURES * HIDDEN }, () => rng.normal()),
    labelTable: Float32Array.from({ length: LABELS * HIDDEN }, () => rng.normal()),
    numLabels: LABELS,
    output: 'logits',
  });
  const teacherId = randomUUID();
  const teacherKey = `teachers/${teacherId}/teacher.onnx`;
  await store.putBytes(teacherKey, onnx);
  await repo.createTeacher({ id: teacherId, name: 'wide', key: teacherKey, kind: 'scores', numLabels: LABELS, sizeBytes: onnx.length, jobId: null, datasetId: null, metrics: null });
  /** A logits teacher's work per row is its label count. */
  const shardPairs = Math.ceil((POINTS * LABELS) / SHARDS);
  say(`data: ${POINTS} points, ${LABELS} labels, ${FEATURES} features; logits teacher, hidden ${HIDDEN} (${(onnx.length / 2 ** 20).toFixed(0)} MiB); pool ${POOL}; chunks of ${shardPairs / LABELS} rows`);
  return { datasetId, teacherId, shardPairs, ceilingArgs: ['--ceiling-child', store.pathOf(teacherKey), '--features', String(FEATURES), '--labels', String(LABELS)], settings: { points: POINTS, labels: LABELS, features: FEATURES, hidden: HIDDEN } };
}

/** The first POINTS training rows and TEST_POINTS test rows of a JSONL folder, and a text-teacher bundle, stored as uploads are. */
async function textData(repo: PrismaRepository, store: FsArtifactStore, bundleDir: string, dataFolder: string): Promise<BenchData> {
  const firstLines = async (file: string, n: number): Promise<Buffer> =>
    Buffer.from(`${(await readFile(join(dataFolder, file), 'utf8')).split('\n').filter((l) => l.trim()).slice(0, n).join('\n')}\n`);
  const datasetId = await addJsonlDataset(repo, store, await firstLines('train.jsonl', POINTS), await firstLines('test.jsonl', TEST_POINTS), 'bench-workers-text');
  const teacherId = await addTextTeacher(repo, store, bundleDir);
  const dataset = (await repo.getDataset(datasetId))!;
  const { points: rows, labels } = dataset.stats;
  const manifest = parseManifest(await readFile(join(bundleDir, MANIFEST_FILE), 'utf8'), bundleDir);
  // a transformer run per row, or per pair for a cross-encoder (as the job counts them: TEXT_RUN_WORK each)
  const shardPairs = Math.ceil((rows * TEXT_RUN_WORK * (manifest.kind === 'cross-encoder' ? POOL : 1)) / SHARDS);
  const modelMiB = (await stat(join(bundleDir, MODEL_FILE))).size / 2 ** 20;
  say(`data: ${rows} texts of ${dataFolder}, ${labels} labels; text teacher ${bundleDir} (${manifest.kind}, max_length ${manifest.max_length}, ${modelMiB.toFixed(1)} MiB); pool ${POOL}; ${SHARDS} chunks a call`);
  const trainPath = store.pathOf(dataset.trainKey);
  return { datasetId, teacherId, shardPairs, ceilingArgs: ['--ceiling-child', bundleDir, '--ceiling-data', trainPath], settings: { points: rows, labels, textTeacher: bundleDir, kind: manifest.kind, maxLength: manifest.max_length, data: dataFolder } };
}

/** One ceiling process: resolves with its rows/s. */
function ceilingChild(childArgs: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'bench/workers.ts', ...childArgs], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    child.on('exit', (code) => (code === 0 ? resolve(Number(out.trim())) : reject(new Error(`ceiling child exited with ${code}`))));
  });
}

/** The ceiling child's body with a text teacher: the first CEILING_ROWS training texts × 10 candidates, one intra-op thread. */
async function textCeilingChildMain(bundleDir: string, trainPath: string): Promise<void> {
  const { train, labelMap } = await loadTrainTest(trainPath, undefined, { cacheDir: false });
  const teacher = await loadJobTeacher(bundleDir, { threads: 1, labelNames: labelMap?.kind === 'string' ? labelMap.names : undefined, splits: [{ features: train.features, path: trainPath }] });
  const N = Math.min(CEILING_ROWS, train.features.rows);
  const L = train.labels.cols;
  const candidates = { rows: N, cols: L, indptr: Int32Array.from({ length: N + 1 }, (_, i) => i * 10), indices: Int32Array.from({ length: N * 10 }, (_, p) => (p * 7919) % L), values: null };
  const t0 = performance.now();
  await teacher.scoreCandidates(train.features, Int32Array.from({ length: N }, (_, i) => i), candidates);
  console.log(N / ((performance.now() - t0) / 1000));
  await teacher.close();
}

/** The ceiling child's body: CEILING_ROWS random rows × 100 candidates through the teacher, one intra-op thread. */
async function ceilingChildMain(teacherPath: string): Promise<void> {
  if (args['ceiling-data']) return textCeilingChildMain(teacherPath, args['ceiling-data']);
  const teacher = await OnnxTeacher.load(teacherPath, { intraOpThreads: 1 });
  const rng = new Rng(9);
  const N = CEILING_ROWS;
  const fp = new Int32Array(N + 1);
  const ids: number[] = [];
  for (let i = 0; i < N; i++) {
    const s = new Set<number>();
    while (s.size < 20) s.add(Math.floor(rng.next() * FEATURES));
    ids.push(...[...s].sort((a, b) => a - b));
    fp[i + 1] = ids.length;
  }
  const features = { rows: N, cols: FEATURES, indptr: fp, indices: Int32Array.from(ids), values: Float32Array.from(ids, () => rng.next()) };
  const cp = Int32Array.from({ length: N + 1 }, (_, i) => i * 100);
  const candidates = { rows: N, cols: LABELS, indptr: cp, indices: Int32Array.from({ length: N * 100 }, () => Math.floor(rng.next() * LABELS)), values: null };
  const t0 = performance.now();
  await teacher.scoreCandidates(features, Int32Array.from({ length: N }, (_, i) => i), candidates);
  console.log(N / ((performance.now() - t0) / 1000));
  await teacher.close();
}

/** A scored chunk as its worker logged it: job, seconds, and when the line came (ms). */
interface ChunkLine {
  jobId: string;
  seconds: number;
  at: number;
  /** It loaded the job's features and model itself (no warm-up had). */
  cold: boolean;
}
type WorkerProcess = ChildProcess & { output: () => string; chunkLines: ChunkLine[] };

function startWorker(env: NodeJS.ProcessEnv): WorkerProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/worker/main.ts'], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const chunkLines: ChunkLine[] = [];
  const onData = (b: Buffer): void => {
    const text = b.toString();
    out += text;
    for (const m of text.matchAll(/job (\S+): score chunk \S+: \d+ pairs in ([\d.]+) s(, loading)?/g)) chunkLines.push({ jobId: m[1], seconds: Number(m[2]), at: Date.now(), cold: Boolean(m[3]) });
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  return Object.assign(child, { output: () => out, chunkLines });
}

/** The chunks of job `jobId` that `child` scored (from its log lines). */
function chunkUse(process: string, child: WorkerProcess, jobId: string): ChunkUse {
  const lines = child.chunkLines.filter((l) => l.jobId === jobId);
  const busy = lines.reduce((a, l) => a + l.seconds, 0);
  const span = lines.length ? (lines[lines.length - 1].at - (lines[0].at - lines[0].seconds * 1000)) / 1000 : 0;
  return { process, chunks: lines.length, coldChunks: lines.filter((l) => l.cold).length, busySeconds: busy, firstChunkSeconds: lines[0]?.seconds ?? 0, waitSeconds: Math.max(0, span - busy) };
}

/** Resolves once the worker says it is ready. */
async function readyOf(child: WorkerProcess): Promise<void> {
  const output = child.output;
  const until = Date.now() + 60_000;
  while (!/: ready/.test(output())) {
    if (child.exitCode !== null) throw new Error(`worker exited: ${output()}`);
    if (Date.now() > until) throw new Error(`worker not ready: ${output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

(args['ceiling-child'] ? ceilingChildMain(args['ceiling-child']) : main()).catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
