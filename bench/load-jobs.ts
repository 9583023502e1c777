/**
 * Load scenario A: N job submissions at once against one service. Every `POST /v1/jobs` is timed
 * and its status counted; then `GET /v1/jobs` must list every accepted id, and every job is polled
 * until it reaches a final state. Reports acceptance latency, time to drain, final status counts.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { quantile } from './http-cannon.js';
import { FINAL, type BenchService, type JobView } from './http-service.js';
import { sampleRss, summarizeRss, type RssSummary } from './load-rss.js';
import { median } from './lib.js';

export interface JobsScenarioResult {
  submitted: number;
  accepted: number;
  /** Status code → count of the submissions. */
  submitStatus: Record<string, number>;
  /** Submissions that failed before any answer (connection errors). */
  submitErrors: number;
  acceptP50Ms: number;
  acceptP99Ms: number;
  acceptMaxMs: number;
  /** Wall time of the whole burst of submissions. */
  burstSeconds: number;
  /** Accepted ids missing from `GET /v1/jobs` right after the burst. */
  missingFromList: number;
  /** Accepted ids not final when polling gave up. */
  notFinal: number;
  /** From the first submission until every accepted job was final (1 s polling). */
  drainSeconds: number;
  /** Server side: last finishedAt − first createdAt. */
  drainSecondsServer: number;
  finalStatus: Record<string, number>;
  /** Median finishedAt − startedAt of the jobs that ran. */
  jobRunSecondsMedian: number;
  rss: RssSummary;
}

export async function jobsScenario(
  svc: BenchService,
  datasetId: string,
  opts: { jobs: number; params: Record<string, unknown>; timeoutMs: number; say: (s: string) => void },
): Promise<JobsScenarioResult> {
  const rss = sampleRss(svc.pid);
  const body = JSON.stringify({ datasetId, params: opts.params });
  const t0 = performance.now();
  const answers = await Promise.all(
    Array.from({ length: opts.jobs }, async () => {
      const start = performance.now();
      try {
        const res = await fetch(`${svc.base}/v1/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
        const text = await res.text();
        const ms = performance.now() - start;
        return { status: res.status, ms, id: res.ok ? (JSON.parse(text) as JobView).id : null, error: res.ok ? null : text.slice(0, 300) };
      } catch (e) {
        return { status: 0, ms: performance.now() - start, id: null, error: (e as Error).message };
      }
    }),
  );
  const burstSeconds = (performance.now() - t0) / 1000;
  const submitStatus: Record<string, number> = {};
  for (const a of answers) if (a.status) submitStatus[a.status] = (submitStatus[a.status] ?? 0) + 1;
  const firstError = answers.find((a) => a.error);
  if (firstError) opts.say(`   first refused submission: ${firstError.status} ${firstError.error}`);
  const ids = answers.flatMap((a) => (a.id ? [a.id] : []));
  const latencies = Float64Array.from(answers.filter((a) => a.id).map((a) => a.ms)).sort();
  opts.say(`   ${ids.length}/${opts.jobs} accepted in ${burstSeconds.toFixed(2)} s`);

  const listJobs = async (): Promise<Map<string, JobView>> => {
    const { jobs } = await svc.api<{ jobs: JobView[] }>('GET', `/v1/jobs?limit=1000`);
    return new Map(jobs.map((j) => [j.id, j]));
  };
  const listed = await listJobs();
  const missingFromList = ids.filter((id) => !listed.has(id)).length;

  const deadline = Date.now() + opts.timeoutMs;
  let jobs = listed;
  let lastSay = Date.now();
  for (;;) {
    const pending = ids.filter((id) => !FINAL.has(jobs.get(id)?.status ?? ''));
    if (pending.length === 0 || Date.now() > deadline) break;
    if (Date.now() - lastSay > 15_000) {
      lastSay = Date.now();
      opts.say(`   ${ids.length - pending.length}/${ids.length} final after ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    }
    await sleep(1000);
    jobs = await listJobs();
  }
  const drainSeconds = (performance.now() - t0) / 1000;
  const mine = ids.map((id) => jobs.get(id)).filter((j): j is JobView => j !== undefined);
  const finalStatus: Record<string, number> = {};
  for (const j of mine) finalStatus[j.status] = (finalStatus[j.status] ?? 0) + 1;
  const failed = mine.find((j) => j.status === 'failed');
  if (failed) opts.say(`   a failed job: ${failed.id}: ${failed.error}`);
  const created = Math.min(...mine.map((j) => Date.parse(j.createdAt)));
  const finished = Math.max(...mine.map((j) => (j.finishedAt ? Date.parse(j.finishedAt) : NaN)));
  const runs = mine.filter((j) => j.startedAt && j.finishedAt).map((j) => (Date.parse(j.finishedAt!) - Date.parse(j.startedAt!)) / 1000);

  return {
    submitted: opts.jobs,
    accepted: ids.length,
    submitStatus,
    submitErrors: answers.filter((a) => a.status === 0).length,
    acceptP50Ms: quantile(latencies, 0.5),
    acceptP99Ms: quantile(latencies, 0.99),
    acceptMaxMs: latencies.length ? latencies[latencies.length - 1] : NaN,
    burstSeconds,
    missingFromList,
    notFinal: ids.length - mine.filter((j) => FINAL.has(j.status)).length,
    drainSeconds,
    drainSecondsServer: (finished - created) / 1000,
    finalStatus,
    jobRunSecondsMedian: runs.length ? median(runs) : NaN,
    rss: summarizeRss(rss.stop()),
  };
}
