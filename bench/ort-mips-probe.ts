import * as ort from 'onnxruntime-node';
import { encodeModel, node, tensorValueInfo, DataType, int64Tensor, intAttr } from '../src/core/util/onnx-proto.js';
import { exactTopK } from '../src/ann/exact-search.js';
const [n, d, L, k, threads] = process.argv.slice(2).map(Number);
const model = encodeModel({ irVersion: 8, opsetImport: [{ domain: '', version: 17 }], graph: { name: 'mips', node: [node('MatMul', ['q', 'vt'], ['s']), node('TopK', ['s', 'k'], ['top', 'idx'], [intAttr('axis', 1)])], initializer: [int64Tensor('k', [1], [k])], input: [tensorValueInfo('q', DataType.FLOAT, ['n', d]), tensorValueInfo('vt', DataType.FLOAT, [d, L])], output: [tensorValueInfo('top', DataType.FLOAT, ['n', k]), tensorValueInfo('idx', DataType.INT64, ['n', k])] } });
const s = await ort.InferenceSession.create(model, { intraOpNumThreads: threads, interOpNumThreads: 1 });
const q = new Float32Array(n * d).map(() => Math.random() - 0.5);
const v = new Float32Array(L * d).map(() => Math.random() - 0.5);
const vt = new Float32Array(L * d);
for (let l = 0; l < L; l++) for (let j = 0; j < d; j++) vt[j * L + l] = v[l * d + j];
for (let rep = 0; rep < 3; rep++) {
  const t0 = performance.now();
  const out = await s.run({ q: new ort.Tensor('float32', q, [n, d]), vt: new ort.Tensor('float32', vt, [d, L]) });
  const sec = (performance.now() - t0) / 1000;
  console.log(`ORT ${threads} thr: ${sec.toFixed(3)} s, ${((2 * n * d * L) / sec / 1e9).toFixed(1)} GFLOP/s`);
  if (rep === 2) {
    const t1 = performance.now();
    const m = 64;
    const ref = exactTopK(v, L, d, q, m, k);
    const js = (performance.now() - t1) / 1000;
    console.log(`JS exactTopK ${m} queries: ${js.toFixed(3)} s → ${((2 * m * d * L) / js / 1e9).toFixed(2)} GFLOP/s`);
    const idx = out.idx.data as BigInt64Array;
    let same = 0;
    for (let i = 0; i < m * k; i++) if (Number(idx[i]) === ref.labels[i]) same++;
    console.log(`same labels ${same}/${m * k}`);
  }
}
