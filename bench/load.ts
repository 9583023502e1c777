/**
 * Load (issue 5): two scenarios, each against its own `distilxr start` child process (PGlite, fresh
 * DATA_DIR under bench/results/tmp/load/, own Redis prefix, RATE_LIMIT_MAX=0, default
 * WORKER_CONCURRENCY), stopped at the end.
 *
 *   npm run bench:load                  # 200 jobs at once; then 64 connections x 60 s of queries, idle and during training (~6-10 min)
 *   npm run bench:load -- --quick       # 40 jobs; 10 s of queries; writes load-quick.json (~2 min)
 *   options: --jobs 200, --duration 60, --connections 64, --only jobs|queries (one scenario)
 *   npm run bench:load -- --only queries --duration 300   # a longer memory soak (~11 min)
 *
 * A. `--jobs` submissions of `POST /v1/jobs` at once (one epoch on a generated 400-point,
 *    50-label dataset): all accepted? all listed by `GET /v1/jobs`? all final (polled each second)?
 *    Acceptance latency p50/p99, time to drain, final status counts, service RSS.
 * B. A Delicious model (1 epoch, over HTTP) is queried (one real test point per request, k=5, 200
 *    different bodies) by `--connections` connections for `--duration` s while a long Delicious
 *    job trains on the same service (cancelled afterwards): latency p50/p99/max, requests/s,
 *    non-2xx and errors, and the service's VmRSS each second: first/last/min/max, the mean of the
 *    first and of the last third of the samples (RSS is a GC sawtooth), and the least-squares slope.
 * Benchmark, not a test: prints markdown tables, writes bench/results/load[-jobs|-queries][-quick].json.
 */
import { rm } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { queryBodies, readTestFeatures } from './http-bodies.js';
import type { CannonResult } from './http-cannon.js';
import { BenchService } from './http-service.js';
import type { RssSummary } from './load-rss.js';
import { jobsScenario, type JobsScenarioResult } from './load-jobs.js';
import { queriesScenario, type QueriesScenarioResult } from './load-queries.js';
import { REPO_ROOT, RESULTS_DIR, TMP_DIR, machineInfo, mdTable, mulanSplit, parseArgs, positiveInt, run, writeJson } from './lib.js';

const args = parseArgs(process.argv.slice(2));
const quick = args.has('quick');
const str = (name: string, fallback: string): string => {
  const v = args.get(name);
  return typeof v === 'string' ? v : fallback;
};
const jobs = positiveInt('jobs', str('jobs', quick ? '40' : '200'));
// GET /v1/jobs lists at most 1000: more could not all be checked
if (jobs > 1000) throw new RangeError(`--jobs must be at most 1000 (what one GET /v1/jobs?limit=1000 can list), got ${jobs}`);
const duration = positiveInt('duration', str('duration', quick ? '10' : '60'));
const connections = positiveInt('connections', str('connections', '64'));
const only = str('only', 'both');
if (!['both', 'jobs', 'queries'].includes(only)) throw new RangeError(`--only must be jobs or queries, got ${only}`);

const say = (s: string): void => void process.stderr.write(s + '\n');
const fmt = (x: number, digits = 1): string => (Number.isFinite(x) ? x.toFixed(digits) : '–');
const counts = (c: Record<string, number>): string =>
  Object.entries(c)
    .map(([k, v]) => `${k}: ${v}`)
    .join(', ') || '–';

const TINY_JOB = { epochs: 1, seed: 1 };

async function runJobs(dir: string): Promise<JobsScenarioResult> {
  const data = join(dir, 'synth');
  await rm(data, { recursive: true, force: true });
  await run(process.execPath, [join(REPO_ROOT, 'bin', 'distilxr.js'), 'data', 'synth', '--out', data, '--points', '400', '--test-points', '100', '--features', '200', '--labels', '50']);
  const svc = await BenchService.start(dir, { name: 'load-jobs' });
  try {
    const datasetId = await svc.uploadDataset(join(data, 'train.txt'), join(data, 'test.txt'));
    say(`== A: ${jobs} job submissions at once (service pid ${svc.pid}, log ${svc.logFile})`);
    return await jobsScenario(svc, datasetId, { jobs, params: TINY_JOB, timeoutMs: 60 * 60_000, say });
  } finally {
    await svc.stop();
  }
}

async function runQueries(dir: string): Promise<QueriesScenarioResult> {
  const split = mulanSplit('delicious');
  const svc = await BenchService.start(dir, { name: 'load-queries' });
  try {
    say(`== B: training a Delicious model over HTTP (service pid ${svc.pid}, log ${svc.logFile})`);
    const datasetId = await svc.uploadDataset(split.train, split.test);
    const modelId = await svc.trainModel(datasetId, { epochs: 1, seed: 1 });
    const bodies = queryBodies(await readTestFeatures(split.test, 200), 1, 5, 200);
    // far more epochs than the load lasts: the job is still training when the load ends, then cancelled
    return await queriesScenario(svc, { modelId, trainDatasetId: datasetId, jobParams: { epochs: 10000, seed: 2 }, bodies, connections, duration, say });
  } finally {
    await svc.stop();
  }
}

function jobsTable(r: JobsScenarioResult): string {
  return mdTable(
    ['figure', 'value'],
    [
      ['submitted at once', String(r.submitted)],
      ['accepted (2xx)', `${r.accepted} (${counts(r.submitStatus)}${r.submitErrors ? `, connection errors: ${r.submitErrors}` : ''})`],
      ['acceptance latency p50 / p99 / max', `${fmt(r.acceptP50Ms, 0)} / ${fmt(r.acceptP99Ms, 0)} / ${fmt(r.acceptMaxMs, 0)} ms (all ${r.submitted} answered within ${fmt(r.burstSeconds, 2)} s)`],
      ['accepted ids missing from GET /v1/jobs', String(r.missingFromList)],
      ['not final when polling stopped', String(r.notFinal)],
      ['final status', counts(r.finalStatus)],
      ['time to drain (client, 1 s polling; server: last finishedAt − first createdAt)', `${fmt(r.drainSeconds)} s; ${fmt(r.drainSecondsServer)} s`],
      ['one job, startedAt → finishedAt (median)', `${fmt(r.jobRunSecondsMedian, 2)} s`],
      ['service RSS first / last / max', `${fmt(r.rss.firstMiB, 0)} / ${fmt(r.rss.lastMiB, 0)} / ${fmt(r.rss.maxMiB, 0)} MiB`],
    ],
  );
}

function queriesTable(r: QueriesScenarioResult): string {
  const mem = (m: RssSummary): string[] => [
    `${fmt(m.firstMiB, 0)} / ${fmt(m.lastMiB, 0)} / ${fmt(m.minMiB, 0)} / ${fmt(m.maxMiB, 0)}`,
    `${fmt(m.firstThirdMeanMiB, 0)} → ${fmt(m.lastThirdMeanMiB, 0)}`,
    fmt(m.slopeMiBPerMin, 1),
  ];
  const row = (label: string, c: CannonResult, more: string[]): string[] => [
    label,
    String(c.connections),
    fmt(c.seconds),
    String(c.requests),
    fmt(c.rps, 0),
    fmt(c.p50, 2),
    fmt(c.p99, 2),
    fmt(c.max, 2),
    String(c.non2xx),
    `${c.errors} (${c.timeouts})`,
    ...more,
  ];
  return mdTable(
    ['service', 'connections', 'seconds', 'requests', 'req/s', 'p50 ms', 'p99 ms', 'max ms', 'non-2xx', 'errors (timeouts)', 'RSS MiB first / last / min / max', 'RSS mean MiB, 1st → last third', 'RSS slope MiB/min'],
    [
      row('idle', r.idle, mem(r.idleRss)),
      row(`training (job ${r.job.statusAfter} throughout: epochs ${r.job.epochsBefore} → ${r.job.epochsAfter}, then ${r.job.final})`, r.cannon, mem(r.rss)),
    ],
  );
}

async function main(): Promise<void> {
  const dir = join(TMP_DIR, 'load');
  const result: { machine: Record<string, string | number>; config: Record<string, unknown>; jobs?: JobsScenarioResult; queries?: QueriesScenarioResult } = {
    machine: machineInfo(),
    config: { jobs, jobParams: TINY_JOB, synth: { points: 400, testPoints: 100, features: 200, labels: 50 }, duration, connections, queryModel: 'delicious, 1 epoch', k: 5 },
  };
  if (only !== 'queries') result.jobs = await runJobs(join(dir, 'jobs'));
  if (only !== 'jobs') result.queries = await runQueries(join(dir, 'queries'));

  let out = '';
  if (result.jobs) out += `\n### Load A: ${jobs} job submissions at once (WORKER_CONCURRENCY default)\n\n${jobsTable(result.jobs)}\n`;
  if (result.queries) out += `\n### Load B: query endpoint, ${connections} connections for ${duration} s while a job trains\n\n${queriesTable(result.queries)}\n`;
  out += `\nLoad average at the end: ${loadavg().map((x) => x.toFixed(2)).join(' ')}.\n`;
  process.stdout.write(out);
  // a run of one scenario never overwrites the file of a run of both
  await writeJson(join(RESULTS_DIR, `load${only === 'both' ? '' : `-${only}`}${quick ? '-quick' : ''}.json`), result);
}

main().catch((e: unknown) => {
  console.error(`bench:load failed: ${(e as Error).stack ?? e}`);
  process.exit(1);
});
