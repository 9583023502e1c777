/**
 * What fresh memory and copies cost on this machine, at the size of debtags' student W1 (135,483 ×
 * 256 floats, 139 MB), the figures behind the training memory's reuse (KernelMemorySlot) and the
 * teacher factors posted in shared memory (teacher-init.ts):
 * - a plain array allocated and written, a new kernel memory filled by copy, the same memory reused
 *   (zeroed, then filled by copy again);
 * - the teacher's last factors posted through a MessageChannel as made (shared memory) and as plain
 *   arrays (cloned): the time to post and to receive.
 *
 *   npx tsx bench/memory-costs.ts [--reps 3]   (npm run bench:memory)
 *
 * The factors part needs debtags' teacher (bench/teachers.ts fits it into bench/results/tmp/debtags/).
 * Prints a table of medians, writes bench/results/memory-costs.json. Benchmark, not a test.
 */
import { join } from 'node:path';
import { MessageChannel } from 'node:worker_threads';
import { KernelMemory, KernelMemorySlot } from '../src/core/simd/kernel-memory.js';
import { readSparseLinearTeacher } from '../src/teacher/sparse-linear-read.js';
import { lastTeacherFactors, teacherStartEnergy, type FactorsMemo } from '../src/pipeline/teacher-init.js';
import { RESULTS_DIR, datasetSplit, machineInfo, mdTable, median, parseArgs, positiveInt, writeJson } from './lib.js';
import { teacherFor } from './teachers.js';

const a = parseArgs(process.argv.slice(2));
const reps = positiveInt('reps', String(a.get('reps') ?? 3));
const FLOATS = 135_483 * 256;

const seconds = (f: () => void): number => {
  const t0 = performance.now();
  f();
  return (performance.now() - t0) / 1000;
};
const timings: Record<string, number[]> = {};
const record = (name: string, s: number): void => void (timings[name] ??= []).push(s);

const source = new Float32Array(FLOATS).fill(0.5);
const slot = new KernelMemorySlot();
KernelMemory.fromSlot(slot, 2 * FLOATS)!.floats(FLOATS).set(source); // the slot's pages touched once
for (let rep = 0; rep < reps; rep++) {
  record('plain array, allocated and written', seconds(() => new Float32Array(FLOATS).fill(1)));
  record('new kernel memory, filled by copy', seconds(() => KernelMemory.create(2 * FLOATS)!.floats(FLOATS).set(source)));
  record('reused kernel memory (zeroed), filled by copy', seconds(() => KernelMemory.fromSlot(slot, 2 * FLOATS)!.floats(FLOATS).set(source)));
}

/** The memo with every array copied out of shared memory: what was posted before 7c61d6a. */
function cloned(m: FactorsMemo): FactorsMemo {
  const v = m.value!;
  const csr = (c: typeof v.weights) => ({ ...c, indptr: c.indptr.slice(), indices: c.indices.slice(), values: c.values ? c.values.slice() : null });
  const plain = <T extends Float32Array | Float64Array>(x: T): T => x.slice() as T;
  return { key: m.key, file: m.file, value: { ...v, modelWeights: csr(v.modelWeights), bias: plain(v.bias), weights: csr(v.weights), factors: { ...v.factors, left: plain(v.factors.left), right: Float32Array.from(v.factors.right), singularValues: plain(v.factors.singularValues) } } };
}

async function post(memo: FactorsMemo): Promise<{ post: number; receive: number }> {
  const { port1, port2 } = new MessageChannel();
  const received = new Promise((resolve) => port2.once('message', resolve));
  const t0 = performance.now();
  port1.postMessage(memo);
  const t1 = performance.now();
  await received;
  const t2 = performance.now();
  port1.close();
  port2.close();
  return { post: (t1 - t0) / 1000, receive: (t2 - t1) / 1000 };
}

const teacher = join((await teacherFor('debtags', datasetSplit('debtags'), [], false)).path, '..', 'teacher.fold0.onnx');
const model = await readSparseLinearTeacher(teacher);
if (!model) throw new Error(`${teacher} is not a sparse linear teacher`);
await teacherStartEnergy(teacher, { inputDim: model.numFeatures, dim: 256, numLabels: model.numLabels, tau: 1, labelBias: true }, 1);
const shared = lastTeacherFactors()!;
const plain = cloned(shared);
for (let rep = 0; rep < reps; rep++) {
  for (const [name, memo] of rep % 2 ? [['shared', shared] as const, ['cloned', plain] as const] : [['cloned', plain] as const, ['shared', shared] as const]) {
    const t = await post(memo);
    record(`debtags fold-0 factors posted ${name}: post`, t.post);
    record(`debtags fold-0 factors posted ${name}: receive`, t.receive);
  }
}

const rows = Object.entries(timings).map(([name, s]) => [name, median(s).toFixed(3), s.map((x) => x.toFixed(3)).join(', ')]);
console.log(mdTable(['what', 's (median)', 'runs, s'], rows));
await writeJson(join(RESULTS_DIR, 'memory-costs.json'), { machine: machineInfo(), floats: FLOATS, reps, timings });
