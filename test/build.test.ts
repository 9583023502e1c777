/**
 * The compiled build (tsconfig.build.json → dist/) runs without tsx: the CLI starts, worker threads
 * load compiled modules, and the migrations are found from the compiled migrate.js. Compiled into a
 * scratch directory laid out like the image (dist/ beside prisma/), so a developer's dist/ is untouched.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = resolve('.');

describe('compiled build', () => {
  let dir: string;
  let entry: string;
  /** The compiled CLI, with no loader from the environment. */
  const cli = (args: string[]): Promise<{ stdout: string; stderr: string }> => {
    const { NODE_OPTIONS: _loader, ...env } = process.env;
    return run(process.execPath, [entry, ...args], { cwd: dir, env });
  };

  beforeAll(async () => {
    // Under the repo so that node_modules resolves from the compiled files.
    await mkdir(join(ROOT, '.cache'), { recursive: true });
    dir = await mkdtemp(join(ROOT, '.cache', 'build-test-'));
    await run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--outDir', join(dir, 'dist')], { cwd: ROOT });
    await run(process.execPath, [join(ROOT, 'scripts/copy-dashboard.mjs'), join(dir, 'dist')], { cwd: ROOT });
    await symlink(join(ROOT, 'prisma'), join(dir, 'prisma'));
    entry = join(dir, 'dist/cli/distilxr.js');
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('prints the help', async () => {
    const { stdout } = await cli(['--help']);
    expect(stdout).toMatch(/^Usage: distilxr /);
  });

  it('finds the migrations from the compiled migrate.js', async () => {
    // readMigrations, not `distilxr migrate`: starting PGlite alone takes seconds.
    const script = `const m = await import(${JSON.stringify(pathToFileURL(join(dir, 'dist/infra/db/migrate.js')).href)});
console.log(JSON.stringify(m.readMigrations().map((f) => f.name)));`;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: dir });
    expect(JSON.parse(stdout)).toEqual(expect.arrayContaining(['0001_init']));
  });

  it('serves the dashboard from the compiled plugin', async () => {
    const script = `const m = await import(${JSON.stringify(pathToFileURL(join(dir, 'dist/service/plugins/dashboard.js')).href)});
const { readFileSync } = await import('node:fs');
console.log(JSON.stringify({ dir: m.DASHBOARD_DIR, html: readFileSync(m.DASHBOARD_DIR + 'index.html', 'utf8') }));`;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: dir });
    const { dir: served, html } = JSON.parse(stdout);
    expect(served).toBe(join(dir, 'dist/service/dashboard') + '/');
    expect(html).toContain('<script type="module" src="/app.js">');
  });

  it('runs solver worker threads from compiled modules', async () => {
    const data = join(dir, 'synth');
    await cli(['data', 'synth', '--out', data, '--points', '200', '--features', '50', '--labels', '10']);
    const { stdout } = await cli(['teacher', 'fit', '--train', join(data, 'train.txt'), '--out', join(dir, 't.onnx'), '--threads', '2', '--folds', '0', '--json']);
    expect(JSON.parse(stdout)).toMatchObject({ threads: 2 });
  });
});
