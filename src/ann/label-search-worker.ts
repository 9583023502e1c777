/**
 * Searches one slice of a batch in a label index loaded from its file, for searchBatchInThreads;
 * writes into the shared outputs at the queries' own rows.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { LabelIndex } from './hnsw-index.js';
import type { LabelSearchJob, LabelSearchReply } from './parallel-search.js';

const job = workerData as LabelSearchJob;
const reply = (m: LabelSearchReply): void => parentPort!.postMessage(m);

reply({ type: 'started' });
try {
  const index = await LabelIndex.load(job.path, job.dim, job.count);
  index.setEf(job.ef);
  const queries = new Float32Array(job.queries);
  const labels = new Int32Array(job.labels);
  const scores = new Float32Array(job.scores);
  for (let q = job.from; q < job.to; q++) index.searchInto(queries, q * job.dim, job.k, labels, scores, q * job.k);
  reply({ type: 'done' });
} catch (e) {
  reply({ type: 'error', message: e instanceof Error ? e.message : String(e) });
}
