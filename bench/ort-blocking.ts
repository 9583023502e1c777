/**
 * Whether onnxruntime-node's `InferenceSession.run` leaves the JavaScript thread free while it
 * computes: one run alone, the same amount of busy JavaScript alone, then both started together
 * (run first, the JavaScript right after, then await the run). Overlapped, "both" ≈ the larger of
 * the two; serialised, ≈ their sum. Decides whether tokenising the next batch can hide behind the
 * current one on one thread (BENCHMARKS.md section T).
 *
 *   npx tsx bench/ort-blocking.ts --model /tmp/tt/debtags-base/model.onnx [--reps 3]
 *
 * Needs a text-teacher bundle's model (inputs input_ids, attention_mask, token_type_ids). Prints a
 * table, writes bench/results/ort-blocking.json.
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { RESULTS_DIR, machineInfo, mdTable, median, positiveInt, writeJson } from './lib.js';

const { values: args } = parseArgs({ options: { model: { type: 'string', default: '/tmp/tt/debtags-base/model.onnx' }, reps: { type: 'string', default: '3' } } });
const REPS = positiveInt('reps', args.reps);
const session = await ort.InferenceSession.create(args.model!, { intraOpNumThreads: 1 });
const B = 8;
const T = 64;
const ints = (fill: bigint) => new ort.Tensor('int64', new BigInt64Array(B * T).fill(fill), [B, T]);
const feeds = { input_ids: ints(5n), attention_mask: ints(1n), token_type_ids: ints(0n) };
const busy = (ms: number): void => {
  const end = performance.now() + ms;
  while (performance.now() < end);
};
const timed = async (f: () => unknown): Promise<number> => {
  const t0 = performance.now();
  await f();
  return performance.now() - t0;
};

await session.run(feeds); // warm-up
const rows: { run: number; js: number; both: number }[] = [];
for (let r = 0; r < REPS; r++) {
  const run = await timed(() => session.run(feeds));
  const js = await timed(() => busy(run));
  const both = await timed(async () => {
    const pending = session.run(feeds);
    busy(run);
    await pending;
  });
  rows.push({ run, js, both });
}
const med = (k: 'run' | 'js' | 'both') => median(rows.map((r) => r[k]));
const verdict = med('both') < 1.25 * Math.max(med('run'), med('js')) ? 'overlapped' : 'serialised (run holds the thread)';
console.log(mdTable(['batch 8 × 64 tokens, 1 intra-op thread (median of ' + REPS + ')', 'ms'], [
  ['session.run alone', med('run').toFixed(0)],
  ['the same time of JavaScript alone', med('js').toFixed(0)],
  ['both started together', med('both').toFixed(0)],
  ['verdict', verdict],
]));
await session.release();
await writeJson(join(RESULTS_DIR, 'ort-blocking.json'), { machine: machineInfo(), model: args.model, rows, verdict });
