import { readFile } from 'node:fs/promises';
import { Command, Option } from 'commander';
import { UsageError } from '../core/util/errors.js';
import { threadCount } from '../core/util/threads.js';
import { TRAIN_SETTINGS, withoutTeacher, type TrainConfig } from '../core/model/train-config.js';
import { evaluateStudent } from '../pipeline/evaluate.js';
import { fitTeacher } from '../pipeline/fit-teacher.js';
import { TEACHER_FIT_SETTINGS, teacherFitConfigOf } from '../pipeline/teacher-fit-config.js';
import { loadModel, loadTestForModel, modelPropensities } from '../pipeline/model-dir.js';
import { queryModel, type QueryInput } from '../pipeline/query.js';
import { runTrainJob } from '../pipeline/train-job.js';
import { inspectTeacher } from '../pipeline/inspect-teacher.js';
import { AUTO_EXTRAPOLATE_MAX_ROWS, AUTO_MIN_BUDGET_SECONDS, AUTO_TEXT_TEACHER_BUDGET_SECONDS, SETTINGS_THAT_TURN_AUTO_OFF } from '../pipeline/auto-tune.js';
import { intArg } from './args.js';
import { addSettingOptions, givenSettings, settingsFrom } from './setting-options.js';
import { metricTable, printJson } from './format.js';
import { stderrProgress } from './progress-bar.js';

export function trainCommand(): Command {
  const cmd = new Command('train')
    .description('train a student retriever: mine hard negatives, distil the teacher, evaluate, write a model directory')
    .requiredOption('--train <file>', 'training data (XC format or JSONL text)')
    .option('--test <file>', 'test data in the same format (for metrics)')
    .option('--teacher <model.onnx|bundle>', 'ONNX teacher, or a text-teacher bundle folder (model.onnx + tokenizer.json + teacher.json, JSONL data); without it alpha is 0')
    .option('--out <dir>', 'model directory to write');
  // every training setting, from TRAIN_SETTINGS
  addSettingOptions(cmd, TRAIN_SETTINGS);
  return cmd
    .option('--label-names <file>', 'one label name per line (XC data)')
    .option('--teacher-threads <n>', 'ONNX Runtime intra-op threads', intArg, 1)
    .option('--no-cross-fit', "score training examples with the teacher itself even when it has cross-fitting fold models")
    .option('--auto', 'choose alpha, temperature, negative counts and epochs on a held-out slice first (the default with a teacher when no setting it chooses or that shapes the model is given; the seed and the speed levers keep it on)')
    .option('--no-auto', 'train with the settings as given (their defaults)')
    .option('--auto-budget <s>', `time budget of the --auto search, seconds (default: as long as the α=0 job is estimated to take, at least ${AUTO_MIN_BUDGET_SECONDS}; ${AUTO_TEXT_TEACHER_BUDGET_SECONDS} with a text teacher)`, intArg)
    .option('--auto-trial-threads <n>', 'trials of the --auto search run at once, each trained on one thread (deterministic); 1: one at a time on --threads; 0: one per core (default: as --threads; 1 with a text teacher)', intArg)
    .option('--no-auto-prefer-simpler', '--auto chooses by held-out P@1 alone, not the simpler candidate (no distillation, or no training) when the best is within one standard error of it')
    .option('--auto-every-candidate', "run every --auto candidate to the end: also the negative counts' candidate once the setting it varies is beaten")
    .option('--auto-extrapolate', `--auto also trains each candidate on a third of the rows and ranks them by P@1 extrapolated to every row, the random start's α 1 T 1 among the teacher start's (the default up to ${AUTO_EXTRAPOLATE_MAX_ROWS} training rows without a text teacher: Bibtex P@1 65.18 → 66.36 over five seeds, the grid's best 66.04, for about twice the job's seconds; BENCHMARKS.md section 0)`)
    .option('--no-auto-extrapolate', '--auto ranks the candidates by their held-out P@1 at the trial\'s size, at any number of rows')
    .option('--json', 'print one JSON object with the test metrics')
    .action(async (o, cmd: Command) => {
      const started = performance.now();
      const settings: TrainConfig = settingsFrom(TRAIN_SETTINGS, o);
      // flags given on the command line are held to the dataset's bounds (a pool larger than the label count...)
      const given = givenSettings(cmd, settings);
      const noTeacher = o.teacher ? null : withoutTeacher(settings, given, { prefix: '', teacher: '--teacher' });
      if (noTeacher?.problems.length) throw new UsageError(noTeacher.problems.join('; '));
      const config = noTeacher?.config ?? settings;
      const onCommandLine = (key: string): boolean => cmd.getOptionValueSource(key) === 'cli';
      const auto = o.teacher ? (o.auto ?? !SETTINGS_THAT_TURN_AUTO_OFF.some(onCommandLine)) : false;
      refuseSearchFlagsWithoutSearch(cmd, o, auto, onCommandLine);
      const labelNames = o.labelNames ? (await readFile(o.labelNames, 'utf8')).split(/\r?\n/).filter((l, i, a) => l !== '' || i < a.length - 1) : undefined;
      const sink = stderrProgress();
      const result = await runTrainJob(
        { trainPath: o.train, testPath: o.test, teacherPath: o.teacher, outDir: o.out, config, labelNames, teacherThreads: o.teacherThreads, crossFit: o.crossFit, given, ...(auto ? { auto: { budgetSeconds: o.autoBudget, ...(o.autoTrialThreads !== undefined ? { trialThreads: o.autoTrialThreads } : {}), ...(o.autoEveryCandidate ? { everyCandidate: true } : {}), ...(o.autoPreferSimpler === false ? { preferSimpler: false } : {}), ...(o.autoExtrapolate !== undefined ? { extrapolate: o.autoExtrapolate } : {}) } } : {}) },
        sink,
      );
      sink.done();
      const seconds = (performance.now() - started) / 1000;
      if (o.json) {
        return printJson({
          ...result.metrics,
          seconds,
          // getrusage(RUSAGE_SELF): the whole process, worker threads and native (ONNX, hnswlib) memory included.
          peakRssBytes: process.resourceUsage().maxRSS * 1024,
          hnsw: result.hnswMetrics,
          hnswRecallAt10: result.hnswRecallAt10,
          evaluatedPoints: result.evaluatedPoints,
          teacher: result.teacherMetrics,
          stageSeconds: result.stageSeconds,
          testSeconds: result.testSeconds,
          trainExamplesPerSecond: median(result.epochs.map((e) => e.examplesPerSecond)),
          epochs: result.epochs,
          pairsScored: result.pairsScored,
          teacherFolds: result.teacherFolds,
          teacherTemperature: result.teacherTemperature,
          config: result.config,
          auto: result.auto,
          modelDir: result.modelDir,
        });
      }
      if (result.metrics) process.stdout.write(metricTable({ student: result.metrics, 'via HNSW': result.hnswMetrics, teacher: result.teacherMetrics }) + '\n');
      if (result.teacherMetrics) {
        const tm = result.teacherMetrics;
        const T = result.teacherTemperature ?? 1;
        process.stdout.write(`teacher ECE ${tm.ece.toFixed(4)}${T !== 1 ? `, ${tm.eceCalibrated.toFixed(4)} at its temperature ${T}` : ''}\n`);
      }
      if (result.modelDir) process.stdout.write(`model written to ${result.modelDir}\n`);
      process.stdout.write(`${seconds.toFixed(1)} s\n`);
    });
}

export function evalCommand(): Command {
  return new Command('eval')
    .description('evaluate a model directory on a test file')
    .requiredOption('--model <dir>', 'model directory written by train')
    .requiredOption('--test <file>', 'test data (XC, or JSONL for a text model)')
    .option('--json', 'print one JSON object')
    .action(async (o: { model: string; test: string; json?: boolean }) => {
      const started = performance.now();
      const model = await loadModel(o.model);
      const test = await loadTestForModel(model, o.test);
      const propensities = modelPropensities(model, test);
      const ev = await evaluateStudent(model.student, test, propensities, model.index, model.neighbours, threadCount(0));
      const seconds = (performance.now() - started) / 1000;
      if (o.json) return printJson({ ...ev.exact, seconds, hnsw: ev.hnsw, hnswRecallAt10: ev.hnswRecallAt10, evaluatedPoints: ev.evaluatedPoints });
      process.stdout.write(metricTable({ exact: ev.exact, 'via HNSW': ev.hnsw }) + '\n');
    });
}

export function queryCommand(): Command {
  return new Command('query')
    .description('top-k labels for one query, given as raw text (text models) or sparse features')
    .requiredOption('--model <dir>', 'model directory written by train')
    .addOption(new Option('--text <text>', 'raw text query (models trained on JSONL text)').conflicts('features'))
    .addOption(new Option('--features <f>', 'sparse features, e.g. "3:1 17:0.5"'))
    .option('-k, --k <k>', 'labels to return', intArg, 5)
    .option('--exact', 'exact search over all labels instead of the HNSW index')
    .option('--json', 'print one JSON object')
    .action(async (o: { model: string; text?: string; features?: string; k: number; exact?: boolean; json?: boolean }) => {
      if (!o.text && !o.features) throw new UsageError('give the query with --text "..." or --features "id:value ..."');
      if (o.k < 1) throw new UsageError(`-k must be at least 1, got ${o.k}`);
      const model = await loadModel(o.model);
      if (o.text !== undefined && !model.featurizer) throw new UsageError(`${o.model} was trained on sparse features, not text: use --features`);
      const input: QueryInput = o.text !== undefined ? { text: o.text } : { features: o.features! };
      const results = queryModel(model, input, o.k, { exact: o.exact });
      if (o.json) return printJson({ results });
      for (const r of results) process.stdout.write(`${String(r.label).padStart(8)}  ${r.score.toFixed(4).padStart(9)}  ${r.name}\n`);
    });
}

export function teacherCommand(): Command {
  const teacher = new Command('teacher').description('baseline teachers, and checks of any teacher');
  teacher
    .command('inspect')
    .description('load a teacher (ONNX file or text-teacher bundle folder) with every check, and print its kind, inputs, outputs, label count and a test score')
    .argument('<path>', 'teacher.onnx or a bundle folder')
    .option('--text <text>', 'test text for a text teacher', 'a small library for parsing text files')
    .option('--json', 'print one JSON object')
    .action(async (path: string, o: { text: string; json?: boolean }) => {
      const r = await inspectTeacher(path, o.text);
      if (o.json) return printJson(r);
      const io = (xs: typeof r.inputs) => xs.map((x) => `${x.name} ${x.type ?? '?'} [${x.shape?.join(',') ?? '?'}]`).join(', ');
      process.stdout.write(`${r.path}: ${r.family === 'text' ? 'text teacher' : 'sparse ONNX teacher'}, kind ${r.kind}, ${r.labelCount ?? 'unknown'} labels${r.maxLength ? `, max_length ${r.maxLength}` : ''}, temperature ${r.temperature}\n`);
      process.stdout.write(`inputs  ${io(r.inputs)}\noutputs ${io(r.outputs)}\n`);
      process.stdout.write(`test score (${r.testScore.input}):\n`);
      for (const t of r.testScore.top) process.stdout.write(`  ${t.score.toFixed(4).padStart(9)}  ${t.label}\n`);
    });
  const fit = teacher
    .command('fit')
    .description('fit the baseline teacher (one-vs-rest linear SVMs, cross-fitted and calibrated) and write it as ONNX')
    .requiredOption('--train <file>', 'training data (XC or JSONL)')
    .option('--test <file>', 'test data, for metrics')
    .requiredOption('--out <teacher.onnx>', 'ONNX file to write');
  // every teacher-fit setting, from TEACHER_FIT_SETTINGS
  addSettingOptions(fit, TEACHER_FIT_SETTINGS);
  fit
    .option('--json', 'print one JSON object with the test metrics')
    .action(async (o) => {
      const started = performance.now();
      // the same checks as over HTTP and in the worker
      const config = teacherFitConfigOf(settingsFrom(TEACHER_FIT_SETTINGS, o));
      const sink = stderrProgress();
      const r = await fitTeacher({ trainPath: o.train, testPath: o.test, outPath: o.out, config }, sink);
      sink.done();
      const seconds = (performance.now() - started) / 1000;
      const { metrics, ...rest } = r;
      if (o.json) return printJson({ ...metrics, ...rest, seconds, fitSeconds: r.seconds, peakRssBytes: process.resourceUsage().maxRSS * 1024 });
      if (metrics) process.stdout.write(metricTable({ teacher: metrics }) + `\nECE ${metrics.ece.toFixed(4)} raw, ${metrics.eceCalibrated.toFixed(4)} calibrated (T = ${r.temperature.toFixed(4)})\n`);
      process.stdout.write(`teacher written to ${o.out} (${r.weights} weights, ${r.folds} folds, ONNX max |diff| ${r.onnxMaxAbsDiff.toExponential(2)}), ${seconds.toFixed(1)} s\n`);
    });
  return teacher;
}

function median(xs: number[]): number {
  if (!xs.length) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** The --auto search's own flags, given to a job that runs no search, would be ignored unseen: refused, saying why it runs none. */
function refuseSearchFlagsWithoutSearch(cmd: Command, o: Record<string, unknown>, auto: boolean, onCommandLine: (key: string) => boolean): void {
  const given = ['autoBudget', 'autoTrialThreads', 'autoEveryCandidate', 'autoPreferSimpler', 'autoExtrapolate'].filter(onCommandLine);
  if (auto || given.length === 0) return;
  // the flag as given: --no-… for a boolean set to false
  const flag = (key: string): string => cmd.options.find((opt) => opt.attributeName() === key && (typeof o[key] !== 'boolean' || opt.negate === (o[key] === false)))?.long ?? key;
  const off = SETTINGS_THAT_TURN_AUTO_OFF.find(onCommandLine);
  const why = !o.teacher ? 'needs --teacher' : o.auto === false ? 'is for the --auto search, and --no-auto is given' : `is for the --auto search, which ${flag(off!)} turns off (--auto keeps it on)`;
  throw new UsageError(`${flag(given[0])} ${why}`);
}
