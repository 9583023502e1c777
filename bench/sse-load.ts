/**
 * `npm run bench:sse`: what open event streams cost the rest of the API. One client opens 500
 * `GET /v1/jobs/:id/events` streams on a training job and `GET /v1/jobs/:id` latency is measured
 * before and while they are open. Two services (`distilxr start`, PGlite, own DATA_DIR and Redis
 * prefix, RATE_LIMIT_MAX=0): one with the default MAX_EVENT_STREAMS_PER_CLIENT (most of the 500
 * get 429), one with the cap off (all 500 open, the shared poller alone). A script: figures, not
 * assertions. Options: --streams N (500), --requests N (200 GETs per measurement), --only NAME
 * (default-cap or cap-off). Each row is printed as soon as it is measured.
 * Writes bench/results/sse-load.json.
 */
import { request } from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeSynth } from '../src/core/data/synth.js';
import { BenchService } from './http-service.js';
import { machineInfo, mdTable, median, parseArgs, positiveInt, RESULTS_DIR, TMP_DIR, writeJson } from './lib.js';

const args = parseArgs(process.argv.slice(2));
const STREAMS = positiveInt('streams', String(args.get('streams') ?? 500));
const REQUESTS = positiveInt('requests', String(args.get('requests') ?? 200));
const ONLY = args.get('only');

interface OpenStream {
  status: number;
  close(): void;
}

/** One stream on a socket of its own (as 500 browser tabs or a careless script would). */
function openStream(base: string, jobId: string): Promise<OpenStream> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}/v1/jobs/${jobId}/events`, { agent: false }, (res) => {
      res.on('error', () => undefined);
      if (res.statusCode !== 200) res.resume();
      resolve({ status: res.statusCode ?? 0, close: () => req.destroy() });
    });
    req.on('error', reject);
    req.end();
  });
}

/** Latencies (ms) of `n` GETs one after another. */
async function getLatencies(base: string, jobId: string, n: number): Promise<number[]> {
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    const res = await fetch(`${base}/v1/jobs/${jobId}`);
    await res.arrayBuffer();
    if (!res.ok) throw new Error(`GET /v1/jobs/${jobId} → ${res.status}`);
    ms.push(performance.now() - t);
  }
  return ms;
}

const p = (xs: number[], q: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))];

interface Row {
  service: string;
  streamsAsked: number;
  streamsOpen: number;
  refused429: number;
  p50Idle: number;
  p99Idle: number;
  p50Streams: number;
  p99Streams: number;
}

async function measure(name: string, env: Record<string, string>, train: string, test: string): Promise<Row> {
  const dir = join(TMP_DIR, `sse-${name}`);
  const svc = await BenchService.start(dir, { name: `sse-${name}`, env });
  const streams: OpenStream[] = [];
  try {
    const datasetId = await svc.uploadDataset(train, test);
    // long enough to be training for the whole measurement; cancelled at the end
    const job = await svc.submitJob(datasetId, { epochs: 100000, dim: 16 });
    await svc.waitJob(job.id, (j) => j.stage === 'training', 120_000);
    await getLatencies(svc.base, job.id, 20); // warm-up
    const idle = await getLatencies(svc.base, job.id, REQUESTS);
    for (let i = 0; i < STREAMS; i += 50) {
      streams.push(...(await Promise.all(Array.from({ length: Math.min(50, STREAMS - i) }, () => openStream(svc.base, job.id)))));
    }
    await sleep(2000); // every stream past its first poll
    const loaded = await getLatencies(svc.base, job.id, REQUESTS);
    const row: Row = {
      service: name,
      streamsAsked: STREAMS,
      streamsOpen: streams.filter((s) => s.status === 200).length,
      refused429: streams.filter((s) => s.status === 429).length,
      p50Idle: median(idle),
      p99Idle: p(idle, 0.99),
      p50Streams: median(loaded),
      p99Streams: p(loaded, 0.99),
    };
    for (const s of streams) s.close();
    await svc.api('POST', `/v1/jobs/${job.id}/cancel`);
    return row;
  } finally {
    for (const s of streams) s.close();
    await svc.stop();
  }
}

const dataDir = join(TMP_DIR, 'sse-data');
const { train, test } = await writeSynth(dataDir, { points: 4000, testPoints: 200, features: 2000, labels: 200, seed: 7 });
const services: [string, Record<string, string>][] = [
  ['default-cap', { RATE_LIMIT_MAX: '0' }],
  ['cap-off', { RATE_LIMIT_MAX: '0', MAX_EVENT_STREAMS_PER_CLIENT: '0' }],
];
const fmt = (x: number): string => x.toFixed(1);
const header = ['service', 'streams asked', 'open', '429', 'GET p50 idle ms', 'p99', 'GET p50 with streams ms', 'p99'];
const rows: Row[] = [];
for (const [name, env] of services) {
  if (ONLY !== undefined && ONLY !== name) continue;
  const r = await measure(name, env, train, test);
  rows.push(r);
  console.log(`${name}: ${JSON.stringify(r)}`);
}
console.log(mdTable(header, rows.map((r) => [r.service, String(r.streamsAsked), String(r.streamsOpen), String(r.refused429), fmt(r.p50Idle), fmt(r.p99Idle), fmt(r.p50Streams), fmt(r.p99Streams)])));
await writeJson(join(RESULTS_DIR, 'sse-load.json'), { machine: machineInfo(), streams: STREAMS, requests: REQUESTS, rows });
