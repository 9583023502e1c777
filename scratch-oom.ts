import { writeFileSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { startPipelineThread } from './src/worker/thread-runner.js';
import { DEFAULT_TRAIN_CONFIG } from './src/core/train-config.js';
const dir = mkdtempSync(join(tmpdir(), 'oom-'));
let s = 7;
const rnd = (n: number) => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s % n; };
const word = () => Array.from({ length: 8 }, () => String.fromCharCode(97 + rnd(26))).join('');
const lines: string[] = [];
for (let i = 0; i < Number(process.argv[2]); i++) lines.push(JSON.stringify({ text: Array.from({ length: 30 }, word).join(' '), labels: [String(rnd(50))] }));
const path = join(dir, 'train.jsonl');
writeFileSync(path, lines.join('\n') + '\n');
const limit = Number(process.argv[3]);
const t0 = performance.now();
const th = startPipelineThread({ kind: 'train', trainPath: path, outDir: join(dir, 'out'), config: { ...DEFAULT_TRAIN_CONFIG, epochs: 1, alpha: 0 }, featurizer: { minDf: 1 }, cacheDir: false, checkpointPath: join(dir, 'ckpt') }, new SharedArrayBuffer(4), (e) => { if (e.type === 'stage') console.log('stage', e.stage); }, limit);
try { await th.result; console.log('done', performance.now() - t0); } catch (e) { console.log('ERR', (e as Error).name, (e as Error).message, performance.now() - t0); }
console.log('rss MB', process.memoryUsage().rss / 2 ** 20, 'maxRSS', process.resourceUsage().maxRSS / 1024);
