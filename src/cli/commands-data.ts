import { Command } from 'commander';
import { datasetStats } from '../core/data/dataset.js';
import { detectFormat, loadTrainTest } from '../core/data/load-dataset.js';
import { writeSynth } from '../core/data/synth.js';
import { intArg, realArg } from './args.js';
import { printJson } from './format.js';

export function dataCommand(): Command {
  const data = new Command('data').description('inspect and generate datasets');
  data
    .command('stats')
    .description('points, features, labels, labels/point, points/label, nnz/point of an XC or JSONL file')
    .argument('<file>', 'dataset file (XC format or JSONL text)')
    .option('--json', 'print one JSON object')
    .action(async (file: string, opts: { json?: boolean }) => {
      const format = await detectFormat(file);
      const { train } = await loadTrainTest(file, undefined);
      const stats = { file, format, ...datasetStats(train) };
      if (opts.json) return printJson(stats);
      const rows: [string, string][] = [
        ['file', file],
        ['format', format],
        ['points', String(stats.points)],
        ['features', String(stats.features)],
        ['labels', String(stats.labels)],
        ['labels/point', stats.labelsPerPoint.toFixed(2)],
        ['points/label', stats.pointsPerLabel.toFixed(2)],
        ['nnz/point', stats.nnzPerPoint.toFixed(2)],
      ];
      for (const [k, v] of rows) process.stdout.write(`${k.padEnd(14)}${v}\n`);
    });
  data
    .command('synth')
    .description('generate a dataset with a planted, learnable structure (train.txt and test.txt in XC format)')
    .requiredOption('--out <dir>', 'output directory')
    .option('--points <n>', 'training points', intArg, 10000)
    .option('--test-points <n>', 'test points (default: a quarter of --points)', intArg)
    .option('--features <n>', 'feature count', intArg, 5000)
    .option('--labels <n>', 'label count (up to millions)', intArg, 1000)
    .option('--labels-per-point <x>', 'mean labels per point', realArg, 3)
    .option('--nnz-per-point <n>', 'mean non-zero features per point', intArg, 20)
    .option('--seed <n>', 'random seed', intArg, 1)
    .action(async (o: { out: string; points: number; testPoints?: number; features: number; labels: number; labelsPerPoint: number; nnzPerPoint: number; seed: number }) => {
      const files = await writeSynth(o.out, {
        points: o.points,
        testPoints: o.testPoints,
        features: o.features,
        labels: o.labels,
        labelsPerPoint: o.labelsPerPoint,
        nnzPerPoint: o.nnzPerPoint,
        seed: o.seed,
      });
      process.stdout.write(`${files.train}\n${files.test}\n`);
    });
  return data;
}
