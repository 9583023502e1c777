/**
 * End-to-end demo over HTTP: starts the service on embedded defaults (PGlite and artifacts under
 * DATA_DIR, default ./.distilxr; Redis from REDIS_URL or started locally), uploads a dataset — the
 * files given as arguments, else a generated one — fits a teacher, submits a distillation job,
 * follows its progress live over Server-Sent Events, queries the model and prints its metrics;
 * ends by printing the dashboard's URL (run from a terminal, the service keeps serving it until
 * Ctrl-C; otherwise it stops, and `npm start` on the same DATA_DIR serves the demo's jobs again).
 *
 *   npm run demo                        # generated data
 *   npm run demo -- TRAIN.txt TEST.txt  # your data (XC format or JSONL text)
 */
import { spawn } from 'node:child_process';
import { openAsBlob } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';

const dataDir = resolve(process.env.DATA_DIR ?? './.distilxr');
const port = process.env.PORT ?? '8080';
const base = `http://127.0.0.1:${port}`;
const say = (line: string): void => void process.stdout.write(line + '\n');

async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(base + path, {
    method,
    headers: body instanceof FormData || body === undefined ? {} : { 'content-type': 'application/json' },
    body: body instanceof FormData ? body : body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path} → ${res.status}: ${text}`);
  return JSON.parse(text) as T;
}

async function waitReady(): Promise<void> {
  for (let i = 0; i < 600; i++) {
    try {
      if ((await fetch(`${base}/readyz`)).ok) return;
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`the service did not become ready at ${base}`);
}

/** Follows a job's event stream, printing stages, epochs and progress, until it ends. */
async function follow(jobId: string): Promise<void> {
  const res = await fetch(`${base}/v1/jobs/${jobId}/events`);
  if (!res.body) throw new Error('no event stream');
  const decoder = new TextDecoder();
  let buffer = '';
  let lastProgress = -1;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const type = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (!data || !type) continue;
      const ev = JSON.parse(data) as { data?: Record<string, unknown> } & Record<string, unknown>;
      const d = (ev.data ?? ev) as Record<string, any>;
      if (type === 'stage') say(`  [${d.stage}]${d.detail ? ' ' + d.detail : ''}`);
      else if (type === 'epoch') say(`  epoch ${d.epoch}: loss ${Number(d.loss).toFixed(4)}, ${Math.round(Number(d.examplesPerSecond))} ex/s`);
      else if (type === 'status') say(`  status: ${d.status}${d.error ? ` (${d.error})` : ''}`);
      else if (type === 'log' && !/^teacher epoch/.test(String(d.message))) say(`  ${d.message}`);
      else if (type === 'progress' && typeof d.progress === 'number' && d.progress - lastProgress >= 0.1) {
        lastProgress = d.progress;
        say(`  ${(100 * d.progress).toFixed(0)}%`);
      }
      if (type === 'end') return;
    }
  }
}

function table(rows: Record<string, Record<string, number> | undefined>): void {
  const keys = ['p@1', 'p@3', 'p@5', 'ndcg@5', 'psp@5', 'r@10'];
  const names = Object.keys(rows).filter((k) => rows[k]);
  say(['metric'.padEnd(8), ...names.map((n) => n.padStart(10))].join(' '));
  for (const k of keys) say([k.padEnd(8), ...names.map((n) => (100 * (rows[n]![k] ?? NaN)).toFixed(2).padStart(10))].join(' '));
}

async function main(): Promise<void> {
  let [train, test] = process.argv.slice(2);
  const service = spawn(process.execPath, [resolve('bin/distilxr.js'), 'start'], { env: { ...process.env, DATA_DIR: dataDir, PORT: port }, stdio: ['ignore', 'inherit', 'inherit'] });
  const stop = (): void => void service.kill('SIGTERM');
  process.on('exit', stop);
  try {
    say(`== starting the service (data under ${dataDir})`);
    await waitReady();
    if (!train) {
      const dir = join(dataDir, 'demo-data');
      say('== generating a dataset (10000 points, 1000 labels, planted structure)');
      const gen = spawn(process.execPath, [resolve('bin/distilxr.js'), 'data', 'synth', '--out', dir, '--points', '10000', '--features', '4000', '--labels', '1000'], { stdio: 'ignore' });
      await new Promise((r) => gen.on('exit', r));
      [train, test] = [join(dir, 'train.txt'), join(dir, 'test.txt')];
    }
    say(`== uploading ${train}${test ? ` and ${test}` : ''}`);
    const form = new FormData();
    form.append('train', await openAsBlob(train), 'train');
    if (test) form.append('test', await openAsBlob(test), 'test');
    const dataset = await api<{ id: string; stats: Record<string, number> }>('POST', '/v1/datasets', form);
    say(`  dataset ${dataset.id}: ${JSON.stringify(dataset.stats)}`);

    say('== fitting a teacher (a job)');
    // two folds instead of three: a quicker teacher for the demo
    const fit = await api<{ id: string }>('POST', '/v1/teachers/fit', { datasetId: dataset.id, params: { folds: 2 } });
    await follow(fit.id);
    const fitJob = await api<{ status: string; resultTeacherId: string | null; error: string | null }>('GET', `/v1/jobs/${fit.id}`);
    if (fitJob.status !== 'completed' || !fitJob.resultTeacherId) throw new Error(`teacher fit ${fitJob.status}: ${fitJob.error}`);

    say(`== distilling teacher ${fitJob.resultTeacherId} into a student`);
    const job = await api<{ id: string }>('POST', '/v1/jobs', { datasetId: dataset.id, teacherId: fitJob.resultTeacherId });
    await follow(job.id);
    const done = await api<{ status: string; modelId: string | null; error: string | null }>('GET', `/v1/jobs/${job.id}`);
    if (done.status !== 'completed' || !done.modelId) throw new Error(`job ${done.status}: ${done.error}`);

    const model = await api<{ id: string; metrics: Record<string, number> | null; teacherMetrics: Record<string, number> | null }>('GET', `/v1/models/${done.modelId}`);
    say(`== model ${model.id}: test metrics (percent)`);
    table({ student: model.metrics ?? undefined, teacher: model.teacherMetrics ?? undefined });

    if (test) {
      const row = (await readFile(test, 'utf8')).split('\n')[1] ?? '';
      const features = Object.fromEntries(
        row
          .split(' ')
          .slice(1)
          .filter((t) => t.includes(':'))
          .map((t) => t.split(':'))
          .map(([k, v]) => [k, Number(v)]),
      );
      const isText = row.trimStart().startsWith('{');
      const query = isText ? { text: (JSON.parse(row) as { text: string }).text } : { features };
      const answer = await api<{ results: { label: number; name: string; score: number }[][] }>('POST', `/v1/models/${model.id}/query`, { queries: [query], k: 5 });
      say(`== query: the first test point (true labels: ${isText ? JSON.stringify((JSON.parse(row) as { labels: unknown }).labels) : row.split(' ')[0]})`);
      for (const hit of answer.results[0]) say(`  ${String(hit.label).padStart(6)}  ${hit.score.toFixed(3).padStart(8)}  ${hit.name}`);
    }
    if (process.stdin.isTTY) {
      say(`== dashboard: ${base}/  (API docs: ${base}/docs; the service runs until Ctrl-C)`);
      // Ctrl-C reaches the service too (same process group): it shuts down cleanly, then the demo ends
      process.on('SIGINT', () => undefined);
      await new Promise((done) => service.once('exit', done));
    } else {
      // stopped first, so that the URL is the last line (the service logs its shutdown)
      const exited = new Promise((done) => (service.exitCode !== null ? done(null) : service.once('exit', done)));
      stop();
      await exited;
      say(`== the service stopped; \`DATA_DIR=${dataDir} PORT=${port} npm start\` serves the demo's jobs again on the dashboard:`);
      say(`== dashboard: ${base}/`);
    }
  } finally {
    stop();
  }
}

main().catch((e: unknown) => {
  console.error(`demo failed: ${(e as Error).message}`);
  process.exit(1);
});
