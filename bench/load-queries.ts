/**
 * Load scenario B: the query endpoint under many connections while a training job runs on the same
 * service. A long job is submitted and awaited until it is in its training stage; then autocannon
 * hammers `POST /v1/models/:id/query` while the service's RSS is sampled every second; the job must
 * still be running afterwards (then it is cancelled), and no request may fail. The same load first
 * runs on the idle service (after a 3 s warm-up), as the reference for the latencies.
 */
import { runCannon, type CannonResult } from './http-cannon.js';
import type { BenchService, JobView } from './http-service.js';
import { sampleRss, summarizeRss, type RssSample, type RssSummary } from './load-rss.js';

export interface QueriesScenarioResult {
  /** The same load with no job running, and the RSS during it. */
  idle: CannonResult;
  idleRss: RssSummary;
  idleRssSamples: RssSample[];
  cannon: CannonResult;
  rss: RssSummary;
  rssSamples: RssSample[];
  /** The background job around the load: epochs finished before and after it, its status after it, and its end. */
  job: { id: string; epochsBefore: number; epochsAfter: number; statusAfter: string; final: string };
}

export async function queriesScenario(
  svc: BenchService,
  opts: { modelId: string; trainDatasetId: string; jobParams: Record<string, unknown>; bodies: string[]; connections: number; duration: number; say: (s: string) => void },
): Promise<QueriesScenarioResult> {
  const url = `${svc.base}/v1/models/${opts.modelId}/query`;
  await runCannon({ url, bodies: opts.bodies, connections: opts.connections, duration: 3 }); // warm-up: model loaded, code optimised
  opts.say(`   idle service: ${opts.connections} connections for ${opts.duration} s`);
  const idleSampler = sampleRss(svc.pid);
  const idle = await runCannon({ url, bodies: opts.bodies, connections: opts.connections, duration: opts.duration });
  const idleRssSamples = idleSampler.stop();
  const job = await svc.submitJob(opts.trainDatasetId, opts.jobParams);
  await svc.waitJob(job.id, (j) => j.status === 'running' && j.stage === 'training', 10 * 60_000);
  const epochsBefore = await epochsDone(svc, job.id);
  opts.say(`   background job ${job.id} training (${epochsBefore} epochs done); ${opts.connections} connections for ${opts.duration} s`);

  const rss = sampleRss(svc.pid);
  const cannon = await runCannon({ url, bodies: opts.bodies, connections: opts.connections, duration: opts.duration });
  const samples = rss.stop();
  const after = await svc.api<JobView>('GET', `/v1/jobs/${job.id}`);
  const epochsAfter = await epochsDone(svc, job.id);
  if (after.status === 'running') await svc.api('POST', `/v1/jobs/${job.id}/cancel`);
  const final = await svc.waitJob(job.id, (j) => j.status !== 'running' && j.status !== 'queued', 5 * 60_000).catch((e: Error) => ({ status: `error: ${e.message}` }));

  return {
    idle,
    idleRss: summarizeRss(idleRssSamples),
    idleRssSamples,
    cannon,
    rss: summarizeRss(samples),
    rssSamples: samples,
    job: { id: job.id, epochsBefore, epochsAfter, statusAfter: after.status, final: final.status },
  };
}

async function epochsDone(svc: BenchService, jobId: string): Promise<number> {
  return (await svc.api<{ epochs: unknown[] }>('GET', `/v1/jobs/${jobId}/metrics`)).epochs.length;
}
