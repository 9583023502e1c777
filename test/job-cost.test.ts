/**
 * The cost estimate against what a real run writes and allocates (pipeline/job-cost.ts), the XC
 * header rule through the library loader (core/data/declared-sizes.ts), and the CLI's dataset bounds.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { datasetStats } from '../src/core/data/dataset.js';
import { DataFormatError } from '../src/core/util/errors.js';
import { loadTrainTest } from '../src/core/data/load-dataset.js';
import { DEFAULT_TRAIN_CONFIG, type TrainConfig } from '../src/core/model/train-config.js';
import { FileCheckpointStore } from '../src/pipeline/checkpoint.js';
import { estimateText, formatSeconds, trainJobCost } from '../src/pipeline/job-cost.js';
import { runTrainJob } from '../src/pipeline/train-job.js';
import { smallXc } from './support/service-env.js';

const BIBTEX = resolve('../shared/datasets/bibtex/bibtex_mulan_train.txt');

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'distilxr-cost-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function file(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

describe('trainJobCost', () => {
  for (const [what, over] of [
    ['defaults', {}],
    ['a large pool and dim', { poolSize: 150, hardNegatives: 32, dim: 200 }],
  ] as const) {
    it(`estimates the checkpoint a real run writes within 10 % (${what})`, async () => {
      const config: TrainConfig = { ...DEFAULT_TRAIN_CONFIG, ...over, epochs: 1, alpha: 0 };
      const checkpointPath = join(dir, `ckpt-${what}.bin`);
      await runTrainJob({ trainPath: BIBTEX, config, cacheDir: false, checkpoints: new FileCheckpointStore(checkpointPath) });
      const { train } = await loadTrainTest(BIBTEX, undefined, { cacheDir: false });
      const cost = trainJobCost({ stats: datasetStats(train), config, inputDim: train.features.cols, teacher: false });
      const written = (await stat(checkpointPath)).size;
      expect(cost.checkpointBytes / written).toBeGreaterThan(0.9);
      expect(cost.checkpointBytes / written).toBeLessThan(1.1);
    });
  }

  it('grows with the settings that drive it', () => {
    const stats = { points: 1000, features: 500, labels: 300, labelsPerPoint: 2, pointsPerLabel: 7, nnzPerPoint: 20 };
    const base = trainJobCost({ stats, config: DEFAULT_TRAIN_CONFIG, inputDim: 500, teacher: false });
    const more = (over: Partial<TrainConfig>, teacher = false) => trainJobCost({ stats, config: { ...DEFAULT_TRAIN_CONFIG, ...over }, inputDim: 500, teacher });
    expect(more({ poolSize: 256 }).memoryBytes).toBeGreaterThan(base.memoryBytes);
    expect(more({ dim: 256 }).checkpointBytes).toBeGreaterThan(2 * base.checkpointBytes);
    expect(more({ epochs: 40 }).seconds).toBeGreaterThan(1.5 * base.seconds);
    expect(more({}, true).memoryBytes).toBeGreaterThan(base.memoryBytes); // teacher scores and their cache
    // the neighbour index holds every training point's embedding: 1000 × 65 floats at least
    expect(base.memoryBytes - more({ neighbours: 0 }).memoryBytes).toBeGreaterThanOrEqual(1000 * 65 * 4);
  });

  it("states how much of the run time is the --auto search's budget, and nothing of it without a search", () => {
    const stats = { points: 1000, features: 500, labels: 300, labelsPerPoint: 2, pointsPerLabel: 7, nnzPerPoint: 20 };
    const plain = trainJobCost({ stats, config: DEFAULT_TRAIN_CONFIG, inputDim: 500, teacher: true });
    const searched = trainJobCost({ stats, config: DEFAULT_TRAIN_CONFIG, inputDim: 500, teacher: true, autoBudgetSeconds: 60 });
    expect(searched.seconds - plain.seconds).toBeCloseTo(60, 6);
    expect(estimateText(searched)).toBe(`${estimateText(plain).replace(formatSeconds(plain.seconds), formatSeconds(searched.seconds))} (60 s of it the --auto search's budget, which it may end well within)`);
    expect(estimateText(plain)).toMatch(/^estimated peak memory \d+ (KiB|MiB), checkpoint \d+ (KiB|MiB), run time \d+ s on the reference machine$/);
  });
});

describe('XC header sizes (loadTrainTest)', () => {
  const refused = async (train: string, test: string | undefined, line: RegExp): Promise<void> => {
    const t = await file(`train-${Math.random()}.txt`, train);
    const s = test === undefined ? undefined : await file(`test-${Math.random()}.txt`, test);
    const err = await loadTrainTest(t, s, { cacheDir: false }).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(DataFormatError);
    expect((err as DataFormatError).line).toBe(1);
    expect((err as DataFormatError).file).toBe(s ?? t);
    expect((err as DataFormatError).problem).toMatch(line);
  };

  it('refuses a header declaring 2^26 features for a row using 5', async () => {
    await refused('1 67108864 4\n0,1,2,3 0:1 1:1 2:1 3:1 4:1\n', undefined, /^header declares 67108864 features but the rows use feature ids below 5 only: at most 1029 features/);
  });

  it('refuses 2^24 labels for rows using 3', async () => {
    await refused('2 4 16777216\n0 0:1\n1,2 1:1\n', undefined, /^header declares 16777216 labels but the rows use label ids below 3 only: at most 1027 labels/);
  });

  it('refuses more than twice the ids used once past the slack', async () => {
    const rows = Array.from({ length: 2000 }, (_, i) => `0 ${i}:1`).join('\n');
    await refused(`2000 4001 1\n${rows}\n`, undefined, /at most 4000 features/);
    const ok = await file('twice.txt', `2000 4000 1\n${rows}\n`);
    expect((await loadTrainTest(ok, undefined, { cacheDir: false })).train.features.cols).toBe(4000);
  });

  it('accepts an honest tail of unused ids, and a test split declaring the training counts whatever it uses', async () => {
    const train = await file('honest.txt', '2 40 30\n0 0:1\n1,2 1:1\n');
    const test = await file('honest-test.txt', '1 40 30\n0 0:1\n');
    const d = await loadTrainTest(train, test, { cacheDir: false });
    expect([d.train.features.cols, d.train.labels.cols, d.test!.labels.cols]).toEqual([40, 30, 30]);
    const big = await file('big.txt', smallXc(200, 20, 1));
    expect((await loadTrainTest(big, undefined, { cacheDir: false })).train.labels.cols).toBe(20);
  });

  it('refuses a test split declaring labels past the training ones that it does not use', async () => {
    await refused('2 4 3\n0 0:1\n1,2 1:1\n', '1 4 5000\n0 0:1\n', /^header declares 5000 labels but the rows use label ids below 1 only/);
  });
});

describe('CLI train', () => {
  it('refuses flags the dataset cannot use, naming each (exit 2), before any work', async () => {
    const run = promisify(execFile);
    const err = await run('node', ['bin/distilxr.js', 'train', '--train', BIBTEX, '--epochs', '1', '--pool-size', '100000', '--hard-negatives', '100000', '--batch-size', '9999']).then(
      () => null,
      (e: { code: number; stderr: string }) => e,
    );
    expect(err?.code).toBe(2);
    expect(err?.stderr).toContain("distilxr: hardNegatives (100000) is more than the dataset's 159 labels; poolSize (100000) is more than the dataset's 159 labels; batchSize (9999) is more than the dataset's 4880 points");
  });

  it("refuses the --auto search's own flags for a job that runs no search, saying why (exit 2)", async () => {
    const run = promisify(execFile);
    const refusal = (args: string[]) => run('node', ['bin/distilxr.js', 'train', '--train', BIBTEX, ...args]).then(() => null, (e: { code: number; stderr: string }) => e);
    for (const [args, message] of [
      [['--auto-budget', '30'], 'distilxr: --auto-budget needs --teacher'],
      [['--teacher', 'unread.onnx', '--no-auto', '--no-auto-extrapolate'], 'distilxr: --no-auto-extrapolate is for the --auto search, and --no-auto is given'],
      [['--teacher', 'unread.onnx', '--epochs', '2', '--auto-extrapolate'], 'distilxr: --auto-extrapolate is for the --auto search, which --epochs turns off (--auto keeps it on)'],
    ] as [string[], string][]) {
      const err = await refusal(args);
      expect(err?.code, args.join(' ')).toBe(2);
      expect(err?.stderr).toContain(message);
    }
  });
});
