/**
 * Table 5 "HTTP queries": `POST /v1/models/:id/query` of a distilxr service against a bare fastify
 * route (the ceiling), both child processes on this machine, autocannon in this process.
 *
 *   npm run bench:http                 # Delicious, 4 settings x 2 servers x 3 reps x 10 s (~6 min with training)
 *   npm run bench:http -- --quick      # 1 rep x 3 s, writes http-queries-quick.json (~2 min)
 *   options: --dataset delicious|bibtex, --epochs 2, --duration 10, --reps 3, --batch 32
 *
 * The service (`distilxr start`, PGlite, fresh DATA_DIR under bench/results/tmp/http/, own Redis
 * prefix, RATE_LIMIT_MAX=0) gets the dataset uploaded and a model trained over HTTP (no teacher).
 * Request bodies are real test points (their sparse features), k=5: one query per request, or a
 * batch of --batch queries; the connections cycle through 200 different bodies. Per repetition
 * each setting runs on both servers, the order alternating; the table shows medians over reps.
 * Benchmark, not a test: prints a markdown table, writes bench/results/http-queries[-quick].json.
 */
import { spawn } from 'node:child_process';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { queryBodies, readTestFeatures, type Features } from './http-bodies.js';
import { runCannon, type CannonResult } from './http-cannon.js';
import { BenchService, freePort, stopChild, waitFor } from './http-service.js';
import { REPO_ROOT, RESULTS_DIR, TMP_DIR, machineInfo, mdTable, median, mulanSplit, parseArgs, positiveInt, writeJson } from './lib.js';

const args = parseArgs(process.argv.slice(2));
const quick = args.has('quick');
const str = (name: string, fallback: string): string => {
  const v = args.get(name);
  return typeof v === 'string' ? v : fallback;
};
const dataset = str('dataset', 'delicious');
const epochs = positiveInt('epochs', str('epochs', quick ? '1' : '2'));
const duration = positiveInt('duration', str('duration', quick ? '3' : '10'));
const reps = positiveInt('reps', str('reps', quick ? '1' : '3'));
const batch = positiveInt('batch', str('batch', '32'));
const K = 5;
const BODIES = 200;

interface Setting {
  name: string;
  queriesPerRequest: number;
  connections: number;
}
const SETTINGS: Setting[] = [
  { name: '1 query', queriesPerRequest: 1, connections: 1 },
  { name: '1 query', queriesPerRequest: 1, connections: 32 },
  { name: `${batch} queries`, queriesPerRequest: batch, connections: 1 },
  { name: `${batch} queries`, queriesPerRequest: batch, connections: 32 },
];

const bodies = (points: Features[], perRequest: number): string[] => queryBodies(points, perRequest, K, BODIES);

async function startBare(): Promise<{ url: string; stop(): Promise<void> }> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'bench', 'http-bare-server.ts')], {
    cwd: REPO_ROOT,
    env: { ...process.env, PORT: String(port) },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const base = `http://127.0.0.1:${port}`;
  await waitFor(`${base}/healthz`, child, 30_000);
  return { url: `${base}/query`, stop: () => stopChild(child) };
}

const fmt = (x: number, digits = 2): string => (Number.isFinite(x) ? x.toFixed(digits) : '–');

interface Row {
  setting: Setting;
  server: 'distilxr' | 'bare';
  runs: CannonResult[];
}

function summary(r: Row) {
  return {
    p50: median(r.runs.map((x) => x.p50)),
    p99: median(r.runs.map((x) => x.p99)),
    rps: median(r.runs.map((x) => x.rps)),
    non2xx: r.runs.reduce((s, x) => s + x.non2xx, 0),
    errors: r.runs.reduce((s, x) => s + x.errors, 0),
    requests: r.runs.reduce((s, x) => s + x.requests, 0),
  };
}

async function main(): Promise<void> {
  const dir = join(TMP_DIR, 'http');
  const split = mulanSplit(dataset);
  const say = (s: string): void => void process.stderr.write(s + '\n');

  say(`== starting distilxr (data under ${dir})`);
  const service = await BenchService.start(dir, { name: 'http' });
  let bare: Awaited<ReturnType<typeof startBare>> | null = null;
  try {
    say(`== uploading ${dataset} and training a model over HTTP (no teacher, ${epochs} epoch(s))`);
    const t0 = Date.now();
    const datasetId = await service.uploadDataset(split.train, split.test);
    const modelId = await service.trainModel(datasetId, { epochs, seed: 1 });
    const trainSeconds = (Date.now() - t0) / 1000;
    say(`   model ${modelId} in ${trainSeconds.toFixed(1)} s`);

    const points = await readTestFeatures(split.test, Math.max(BODIES, batch));
    const queryUrl = `${service.base}/v1/models/${modelId}/query`;
    const check = await service.api<{ results: unknown[][] }>('POST', `/v1/models/${modelId}/query`, JSON.parse(bodies(points, batch)[0]));
    if (check.results.length !== batch || check.results[0].length !== K) throw new Error(`unexpected query answer: ${JSON.stringify(check).slice(0, 300)}`);

    bare = await startBare();
    const urls = { distilxr: queryUrl, bare: bare.url } as const;
    say('== warm-up (2 s each)');
    for (const url of Object.values(urls)) await runCannon({ url, bodies: bodies(points, 1), connections: 8, duration: 2 });

    const rows: Row[] = SETTINGS.flatMap((setting) => (['distilxr', 'bare'] as const).map((server) => ({ setting, server, runs: [] as CannonResult[] })));
    for (let rep = 0; rep < reps; rep++) {
      for (const [i, setting] of SETTINGS.entries()) {
        const order = (rep + i) % 2 === 0 ? (['distilxr', 'bare'] as const) : (['bare', 'distilxr'] as const);
        for (const server of order) {
          const r = await runCannon({ url: urls[server], bodies: bodies(points, setting.queriesPerRequest), connections: setting.connections, duration });
          rows.find((x) => x.setting === setting && x.server === server)!.runs.push(r);
          say(`   rep ${rep + 1}/${reps} ${setting.name} x${setting.connections} ${server}: ${fmt(r.rps, 0)} req/s, p50 ${fmt(r.p50)} ms, p99 ${fmt(r.p99)} ms, non-2xx ${r.non2xx}, errors ${r.errors}`);
        }
      }
    }

    const table = mdTable(
      ['request (k=5)', 'connections', 'distilxr p50 ms', 'p99 ms', 'req/s', 'queries/s', 'bare fastify p50 ms', 'p99 ms', 'req/s', 'distilxr / bare req/s', 'non-2xx / errors (distilxr; bare)'],
      SETTINGS.map((setting) => {
        const d = summary(rows.find((x) => x.setting === setting && x.server === 'distilxr')!);
        const b = summary(rows.find((x) => x.setting === setting && x.server === 'bare')!);
        return [
          setting.name,
          String(setting.connections),
          fmt(d.p50),
          fmt(d.p99),
          fmt(d.rps, 0),
          fmt(d.rps * setting.queriesPerRequest, 0),
          fmt(b.p50, 3),
          fmt(b.p99, 3),
          fmt(b.rps, 0),
          fmt(d.rps / b.rps, 3),
          `${d.non2xx} / ${d.errors}; ${b.non2xx} / ${b.errors}`,
        ];
      }),
    );
    process.stdout.write(
      `\n### Table 5: HTTP queries (${dataset}, ${duration} s per run, median of ${reps})\n\n${table}\n\n` +
        `Model: ${dataset}, ${epochs} epoch(s), no teacher, HNSW search (exact: false). Load average at the end: ${loadavg().map((x) => x.toFixed(2)).join(' ')}.\n`,
    );

    await writeJson(join(RESULTS_DIR, quick ? 'http-queries-quick.json' : 'http-queries.json'), {
      machine: machineInfo(),
      config: { dataset, epochs, duration, reps, batch, k: K, distinctBodies: BODIES, trainSeconds },
      rows: rows.map((r) => ({ request: r.setting.name, queriesPerRequest: r.setting.queriesPerRequest, connections: r.setting.connections, server: r.server, median: summary(r), runs: r.runs })),
    });
  } finally {
    await bare?.stop();
    await service.stop();
  }
}

main().catch((e: unknown) => {
  console.error(`bench:http failed: ${(e as Error).stack ?? e}`);
  process.exit(1);
});
