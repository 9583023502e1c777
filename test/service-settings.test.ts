/**
 * The service configuration's one declaration (src/infra/service-settings.ts): parsing with
 * messages that name the variable, derived defaults, the `distilxr env` command, and the README's
 * table, which must be the command's output.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/infra/config.js';
import { SERVICE_ENV, parseServiceEnv, serviceEnvTable } from '../src/infra/service-settings.js';
import { runWorker } from '../src/worker/main.js';

const run = promisify(execFile);
const cli = (args: string[], env: NodeJS.ProcessEnv) => run(process.execPath, ['--import', 'tsx', 'src/cli/distilxr.ts', ...args], { env: { ...process.env, ...env } });

describe('service settings', () => {
  it('fills every default from an empty environment, and counts an empty variable as unset', () => {
    const empty = parseServiceEnv({});
    const blank = parseServiceEnv(Object.fromEntries(Object.keys(SERVICE_ENV.properties).map((k) => [k, ''])));
    expect(blank).toEqual(empty);
    expect(empty).toMatchObject({ PORT: 8080, WORKER_LOCK_MS: 10_000, JOB_MAX_MEMORY_MB: 8192, API_KEYS: '' });
    expect(empty.DATABASE_URL).toBeUndefined();
  });

  it('refuses values of the wrong type or range, naming the variable, the value and what it accepts', () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{ JOB_MAX_MEMORY_MB: '1.5' }, /^JOB_MAX_MEMORY_MB must be a positive integer, got "1.5"$/],
      [{ MAX_UPLOAD_BYTES: '8k' }, /^MAX_UPLOAD_BYTES must be a positive integer, got "8k"$/],
      [{ WORKER_CONCURRENCY: '0' }, /^WORKER_CONCURRENCY must be a positive integer, got "0"$/],
      [{ RATE_LIMIT_MAX: '-1' }, /^RATE_LIMIT_MAX must be a non-negative integer, got "-1"$/],
      [{ PORT: '70000' }, /^PORT must be a non-negative integer, at most 65535, got "70000"$/],
      [{ MAX_TEACHER_BYTES: String(2 ** 31) }, /at most 2147483647 \(the ONNX protobuf limit\)/],
      [{ LOG_LEVEL: 'loud' }, /^LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent, got "loud"$/],
    ];
    for (const [env, message] of cases) expect(() => loadConfig(env), JSON.stringify(env)).toThrow(message);
  });

  it('derives the worker RSS cap from the job memory and the concurrency unless set', () => {
    const MiB = 1 << 20;
    expect(loadConfig({ JOB_MAX_MEMORY_MB: '100', WORKER_CONCURRENCY: '3' }).workerMaxRssBytes).toBe((300 + 1024) * MiB);
    expect(loadConfig({ JOB_MAX_MEMORY_MB: '100', WORKER_MAX_RSS_MB: '500' }).workerMaxRssBytes).toBe(500 * MiB);
    expect(loadConfig({ WORKER_METRICS_PORT: '9464', REDIS_PREFIX: 'p' })).toMatchObject({ workerMetricsPort: 9464, redisPrefix: 'p', workerLockMs: 10_000 });
  });

  it('stops a worker at start on a bad variable, before opening anything', async () => {
    await expect(runWorker({ DATABASE_URL: 'postgresql://127.0.0.1:1/none', WORKER_LOCK_MS: 'soon' })).rejects.toThrow(/^WORKER_LOCK_MS must be a positive integer, got "soon"$/);
  });

  it('`distilxr env` prints the table the README shows; --check exits 2 on a bad variable and hides secrets', async () => {
    const { stdout } = await cli(['env'], {});
    expect(stdout).toBe(serviceEnvTable());
    for (const name of Object.keys(SERVICE_ENV.properties)) expect(stdout).toContain(`| \`${name}\` |`);
    expect(await readFile('README.md', 'utf8')).toContain(stdout.trimEnd());

    const bad = await cli(['env', '--check'], { JOB_MAX_SECONDS: '1e3' }).then(
      () => null,
      (e: { code: number; stderr: string }) => e,
    );
    expect(bad?.code).toBe(2);
    expect(bad?.stderr).toContain('JOB_MAX_SECONDS must be a positive integer, got "1e3"');

    const good = await cli(['env', '--check'], { DATABASE_URL: 'postgresql://u:secret@db:5432/x', API_KEYS: 'k1,k2:read', PORT: '9000' });
    const parsed = JSON.parse(good.stdout);
    expect(parsed).toMatchObject({ port: 9000, apiKeys: 2 });
    expect(good.stdout).not.toContain('secret');
    expect(good.stdout).not.toContain('k1');
  });
});
