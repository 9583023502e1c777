/**
 * CPU profile of a scale-table job: runs `node --cpu-prof bin/distilxr.js train ...` on the
 * generated data of one scale size (bench/scale.ts settings: α=0, 2 epochs, no re-mining), then
 * reads every .cpuprofile it wrote (one per thread: the CLI runs the pipeline on the main thread,
 * and sharded HNSW work runs in worker threads) and aggregates self time: per thread, per job
 * stage, per function and per source file, in % of the non-idle samples.
 * A benchmark: prints tables, writes bench/results/profile*.json, asserts nothing.
 *
 *   npx tsx bench/profile.ts [--size 1e5] [--top 20]    # writes profile.json (another size: profile-L1e6.json …)
 *   npx tsx bench/profile.ts --summarise DIR_OR_FILE [--top 20]    # existing .cpuprofile files
 *
 * A main-thread sample is put in a stage by the outermost stage function on its stack
 * (STAGE_MARKERS); the evaluation index is built straight from runTrainJob, so LabelIndex.build
 * outside mining counts as evaluating; a sample whose stack lost its stage function to an await
 * takes the stage of the last marked sample before it. Worker-thread samples take the main
 * thread's stage at that moment ("mining (worker threads)").
 */
import { mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { basename, join, relative } from 'node:path';
import { REPO_ROOT, RESULTS_DIR, TMP_DIR, ensureScaleData, machineInfo, mdTable, parseArgs, positiveInt, readJsonIfExists, run, scaleSize, scaleTag, writeJson } from './lib.js';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** Function name (and a file suffix it must come from, '' = any) → stage. */
const STAGE_MARKERS: [string, string, string][] = [
  ['loadTrainTest', '', 'preparing'],
  ['init', 'core/model/student.ts', 'preparing'],
  ['StudentTrainer', 'core/model/trainer.ts', 'preparing'],
  ['mineFromCentroids', '', 'mining'],
  ['mineFromStudent', '', 'mining'],
  ['trainEpoch', '', 'training'],
  ['evaluateStudent', '', 'evaluating'],
  ['build', 'hnsw-index.ts', 'evaluating'],
  ['publishModel', '', 'publishing'],
];
/** Samples where the thread waited: not CPU time. */
const NOT_RUNNING = new Set(['(idle)']);

interface Tally {
  [key: string]: number;
}
const add = (t: Tally, k: string, v: number): void => {
  t[k] = (t[k] ?? 0) + v;
};

function shortUrl(url: string): string {
  if (!url) return '';
  const path = url.replace(/^file:\/\//, '').replace(/\?.*$/, ''); // tsx adds ?tsx-namespace=… per worker
  return path.startsWith(REPO_ROOT) ? relative(REPO_ROOT, path) : path.replace(/^.*node_modules\//, 'node_modules/');
}

/** Function and file; no line: tsx's transformed modules report meaningless line numbers. */
function frameKey(f: CallFrame): string {
  const name = f.functionName || '(anonymous)';
  const url = shortUrl(f.url);
  return url ? `${name} (${url})` : name;
}

interface ThreadSummary {
  file: string;
  /** Milliseconds of non-idle samples. */
  busyMs: number;
  wallMs: number;
  byFunction: Tally;
  byFile: Tally;
  byStage: Tally;
  /** stage → function → ms */
  byStageFunction: Record<string, Tally>;
}

/** The main thread's stage over time: [timestamp µs, stage] of each sample with a stage marker on its stack. */
type Timeline = [number, string][];

/** Stage of the last marked main-thread sample at or before t ('start-up' before the first). */
function stageAt(timeline: Timeline, t: number): string {
  let lo = 0;
  let hi = timeline.length - 1;
  if (hi < 0 || t < timeline[0][0]) return 'start-up';
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (timeline[mid][0] <= t) lo = mid;
    else hi = mid - 1;
  }
  return timeline[lo][1];
}

/**
 * Self time of one thread's profile. Main thread: a sample's stage is the outermost stage marker
 * on its stack, or else (an async continuation, whose stack lost the stage function) the stage of
 * the last marked sample before it. Worker threads: the main thread's stage at that moment (all
 * threads of a process share the profile clock), as "<stage> (worker threads)".
 */
function summariseProfile(file: string, p: CpuProfile, main: Timeline | null): { summary: ThreadSummary; timeline: Timeline } {
  const byId = new Map<number, ProfileNode>(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const markerOf = new Map<number, string | null>();
  const markedStage = (id: number): string | null => {
    const cached = markerOf.get(id);
    if (cached !== undefined) return cached;
    let stage: string | null = null;
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const f = byId.get(cur)!.callFrame;
      const m = STAGE_MARKERS.find(([name, suffix]) => f.functionName === name && shortUrl(f.url).endsWith(suffix));
      if (m) stage = m[2]; // keep walking: the outermost marker wins
    }
    markerOf.set(id, stage);
    return stage;
  };
  const s: ThreadSummary = { file, busyMs: 0, wallMs: (p.endTime - p.startTime) / 1000, byFunction: {}, byFile: {}, byStage: {}, byStageFunction: {} };
  const timeline: Timeline = [];
  // timeDeltas[i] is the gap before sample i; the gap after a sample is the time it stands for.
  let t = p.startTime;
  const stages: string[] = [];
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i];
    const marked = main ? null : markedStage(p.samples[i]);
    if (marked) timeline.push([t, marked]);
    stages.push(main ? `${stageAt(main, t)} (worker threads)` : (marked ?? stageAt(timeline, t)));
  }
  for (let i = 0; i < p.samples.length; i++) {
    const ms = (p.timeDeltas[i + 1] ?? 0) / 1000;
    const f = byId.get(p.samples[i])!.callFrame;
    if (NOT_RUNNING.has(f.functionName)) continue;
    s.busyMs += ms;
    const key = frameKey(f);
    add(s.byFunction, key, ms);
    add(s.byFile, shortUrl(f.url) || `(native or VM: ${f.functionName})`, ms);
    add(s.byStage, stages[i], ms);
    add((s.byStageFunction[stages[i]] ??= {}), key, ms);
  }
  return { summary: s, timeline };
}

async function profileFiles(target: string): Promise<string[]> {
  if ((await stat(target)).isFile()) return [target];
  return (await readdir(target)).filter((f) => f.endsWith('.cpuprofile')).sort().map((f) => join(target, f));
}

const pct = (part: number, whole: number): string => (whole > 0 ? ((100 * part) / whole).toFixed(1) : '0.0');
const top = (t: Tally, n: number): [string, number][] => Object.entries(t).sort((a, b) => b[1] - a[1]).slice(0, n);
const merge = (into: Tally, from: Tally): void => {
  for (const [k, v] of Object.entries(from)) add(into, k, v);
};

async function summarise(target: string, topN: number, stageSeconds?: Record<string, number>): Promise<Record<string, unknown>> {
  const files = await profileFiles(target);
  if (!files.length) throw new Error(`no .cpuprofile files in ${target}`);
  // Node names a thread's profile CPU.<date>.<time>.<pid>.<threadId>.<seq>.cpuprofile; thread 0 is the main thread.
  const threadId = (f: string): string => (files.length === 1 ? '0' : (basename(f).split('.').at(-3) ?? ''));
  const mainFile = files.find((f) => threadId(f) === '0');
  if (!mainFile) throw new Error(`no main-thread profile (CPU.*.<pid>.0.*.cpuprofile) among ${files.join(', ')}`);
  const read = async (f: string): Promise<CpuProfile> => JSON.parse(await readFile(f, 'utf8')) as CpuProfile;
  const mainRun = summariseProfile(mainFile, await read(mainFile), null);
  const threads: ThreadSummary[] = [mainRun.summary];
  for (const f of files) if (f !== mainFile) threads.push(summariseProfile(f, await read(f), mainRun.timeline).summary);
  const all = { busyMs: 0, byFunction: {} as Tally, byFile: {} as Tally, byStage: {} as Tally, byStageFunction: {} as Record<string, Tally> };
  for (const t of threads) {
    all.busyMs += t.busyMs;
    merge(all.byFunction, t.byFunction);
    merge(all.byFile, t.byFile);
    merge(all.byStage, t.byStage);
    for (const [st, tally] of Object.entries(t.byStageFunction)) merge((all.byStageFunction[st] ??= {}), tally);
  }
  const out: string[] = [];
  out.push(mdTable(['thread profile', 'wall s', 'CPU s (non-idle)'], threads.map((t) => [basename(t.file), (t.wallMs / 1000).toFixed(1), (t.busyMs / 1000).toFixed(1)])));
  const stages = top(all.byStage, 99);
  out.push(
    mdTable(
      ['stage', 'CPU s', '% of CPU', ...(stageSeconds ? ['wall s (stageSeconds)'] : []), 'top self time in the stage (% of the stage)'],
      stages.map(([st, ms]) => [
        st,
        (ms / 1000).toFixed(1),
        pct(ms, all.busyMs),
        ...(stageSeconds ? [stageSeconds[st]?.toFixed(1) ?? '–'] : []),
        top(all.byStageFunction[st], 3).map(([k, fms]) => `${k.replace(/ \(.*\)$/, '')} ${pct(fms, ms)}`).join(', '),
      ]),
    ),
  );
  out.push(`Top ${topN} functions by self time (all threads):\n\n` + mdTable(['function (file)', 'self s', '% of CPU'], top(all.byFunction, topN).map(([k, ms]) => [`\`${k}\``, (ms / 1000).toFixed(1), pct(ms, all.busyMs)])));
  out.push(`Self time by source file:\n\n` + mdTable(['file', 'self s', '% of CPU'], top(all.byFile, topN).map(([k, ms]) => [`\`${k}\``, (ms / 1000).toFixed(1), pct(ms, all.busyMs)])));
  const slowest = stages.find(([st]) => st !== 'start-up')?.[0];
  if (slowest) {
    const stTally = all.byStageFunction[slowest];
    const stMs = all.byStage[slowest];
    out.push(
      `Top functions within the stage with the most CPU (${slowest}, ${(stMs / 1000).toFixed(1)} s):\n\n` +
        mdTable(['function (file)', 'self s', '% of stage', '% of CPU'], top(stTally, topN).map(([k, ms]) => [`\`${k}\``, (ms / 1000).toFixed(1), pct(ms, stMs), pct(ms, all.busyMs)])),
    );
  }
  process.stdout.write(out.join('\n\n') + '\n');
  return {
    files: files.map((f) => relative(REPO_ROOT, f)),
    cpuSeconds: all.busyMs / 1000,
    threads: threads.map((t) => ({ file: basename(t.file), wallSeconds: t.wallMs / 1000, cpuSeconds: t.busyMs / 1000 })),
    byStage: Object.fromEntries(stages.map(([k, ms]) => [k, ms / 1000])),
    topFunctions: top(all.byFunction, 50).map(([k, ms]) => ({ function: k, selfSeconds: ms / 1000 })),
    topFiles: top(all.byFile, 50).map(([k, ms]) => ({ file: k, selfSeconds: ms / 1000 })),
    slowestStage: slowest,
    slowestStageTopFunctions: slowest ? top(all.byStageFunction[slowest], 50).map(([k, ms]) => ({ function: k, selfSeconds: ms / 1000 })) : [],
  };
}

/** profile.json for the default 10^5 run, profile-<tag>.json for other sizes. */
function profileJsonName(tag: string): string {
  return tag === scaleTag(1e5) ? 'profile.json' : `profile-${tag}.json`;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const topArg = args.get('top');
  const topN = topArg === undefined ? 20 : positiveInt('top', String(topArg));
  const existing = args.get('summarise');
  if (typeof existing === 'string') {
    // Re-summarising the profiles a profile JSON came from refreshes it, keeping the run's command and stage times.
    const out = join(RESULTS_DIR, profileJsonName(basename(existing)));
    const previous = await readJsonIfExists<{ files: string[]; stageSeconds?: Record<string, number> }>(out);
    const files = (await profileFiles(existing)).map((f) => relative(REPO_ROOT, f));
    const same = previous !== null && JSON.stringify(previous.files) === JSON.stringify(files);
    const summary = await summarise(existing, topN, same ? previous.stageSeconds : undefined);
    if (same) {
      await writeJson(out, { ...previous, ...summary });
      process.stdout.write(`\nraw results updated: ${out}\n`);
    }
    return;
  }
  const sizeArg = args.get('size');
  const labels = Number(typeof sizeArg === 'string' ? sizeArg : '1e5');
  if (!Number.isInteger(labels) || labels < 100) throw new RangeError(`--size must be a label count ≥ 100 (e.g. 1e5), got ${String(sizeArg)}`);
  const size = scaleSize(labels);
  const { trainPath, testPath } = await ensureScaleData(size);
  const dir = join(TMP_DIR, 'profile', scaleTag(labels));
  const out = join(RESULTS_DIR, profileJsonName(scaleTag(labels)));
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const trainArgs = ['train', '--train', trainPath, '--test', testPath, '--alpha', '0', '--epochs', '2', '--remine-every', '0', '--seed', '1', '--out', join(dir, 'model'), '--json'];
  const nodeArgs = ['--cpu-prof', '--cpu-prof-dir', dir];
  process.stderr.write(`[profile] node ${nodeArgs.join(' ')} bin/distilxr.js ${trainArgs.join(' ')}\n`);
  const r = await run(process.execPath, [...nodeArgs, join(REPO_ROOT, 'bin', 'distilxr.js'), ...trainArgs], { stderrFile: join(dir, 'train.log') });
  const job = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { stageSeconds: Record<string, number>; seconds: number };
  process.stdout.write(`\n## CPU profile: ${labels} labels, ${size.points} points, ${size.features} features (job ${job.seconds.toFixed(1)} s wall)\n\n`);
  const summary = await summarise(dir, topN, job.stageSeconds);
  await writeJson(out, { machine: machineInfo(), size, command: `node ${nodeArgs.join(' ')} bin/distilxr.js ${trainArgs.join(' ')}`.replaceAll(REPO_ROOT + '/', ''), stageSeconds: job.stageSeconds, jobSeconds: job.seconds, ...summary });
  process.stdout.write(`\nraw results: ${out}; profiles: ${relative(REPO_ROOT, dir)}\n`);
}

await main();
