/**
 * Start-up time of `distilxr --help`: from source under tsx (bin/distilxr.js, what a checkout runs)
 * against the compiled build (dist/cli/distilxr.js, what the image runs). Builds dist/ first
 * (`npm run build`) unless --no-build; runs alternate so drift hits both alike.
 *
 *   npm run bench:startup [-- --runs 10 --no-build]
 */
import { join } from 'node:path';
import { machineInfo, mdTable, median, parseArgs, positiveInt, REPO_ROOT, RESULTS_DIR, run, writeJson } from './lib.js';

const ENTRIES = {
  tsx: join('bin', 'distilxr.js'),
  compiled: join('dist', 'cli', 'distilxr.js'),
} as const;
type Entry = keyof typeof ENTRIES;

async function timeHelp(entry: Entry): Promise<number> {
  return (await run(process.execPath, [join(REPO_ROOT, ENTRIES[entry]), '--help'])).seconds;
}

const args = parseArgs(process.argv.slice(2));
const runsArg = args.get('runs');
const runs = positiveInt('runs', runsArg === true ? undefined : (runsArg ?? '10'));
if (!args.has('no-build')) await run('npm', ['run', 'build']);

const seconds: Record<Entry, number[]> = { tsx: [], compiled: [] };
for (const e of Object.keys(ENTRIES) as Entry[]) await timeHelp(e); // warm the file cache, not counted
for (let i = 0; i < runs; i++) for (const e of Object.keys(ENTRIES) as Entry[]) seconds[e].push(await timeHelp(e));

const med = { tsx: median(seconds.tsx), compiled: median(seconds.compiled) };
await writeJson(join(RESULTS_DIR, 'startup.json'), {
  machine: machineInfo(),
  command: 'node ENTRY --help',
  entries: ENTRIES,
  runs,
  seconds,
  medianSeconds: med,
  ratio: med.tsx / med.compiled,
});
const ms = (s: number): string => (s * 1000).toFixed(0);
const rows = (Object.keys(ENTRIES) as Entry[]).map((e) => [e, `\`node ${ENTRIES[e]} --help\``, ms(med[e]), ms(Math.min(...seconds[e])), ms(Math.max(...seconds[e]))]);
console.log(mdTable(['entry', 'command', 'median ms', 'min ms', 'max ms'], rows));
console.log(`\ncompiled starts ${(med.tsx / med.compiled).toFixed(2)}× faster (${ms(med.tsx - med.compiled)} ms saved per start), ${runs} runs each`);
