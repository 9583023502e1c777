/**
 * `distilxr teacher inspect` and `distilxr train --teacher BUNDLE` with the committed tiny text
 * teachers (real ONNX Runtime, real tokenizer library), and their refusals.
 */
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const BIN = resolve('bin/distilxr.js');
const BUNDLES = resolve('test/fixtures/text-teachers');
const MINI = resolve('test/fixtures/text-mini');
const KINDS = ['classifier', 'cross-encoder', 'bi-encoder'] as const;

/** Runs the CLI expecting failure; returns exit code and stderr. */
async function fails(args: string[]): Promise<{ code: number; stderr: string }> {
  try {
    await run('node', [BIN, ...args]);
  } catch (e) {
    const err = e as { code: number; stderr: string };
    return { code: err.code, stderr: err.stderr };
  }
  throw new Error(`distilxr ${args.join(' ')} succeeded`);
}

describe('distilxr with text-teacher bundles', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'distilxr-text-teacher-'));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it.each(KINDS)('teacher inspect --json: %s', async (kind) => {
    const { stdout } = await run('node', [BIN, 'teacher', 'inspect', join(BUNDLES, kind), '--json']);
    const r = JSON.parse(stdout);
    const manifest = JSON.parse(await readFile(join(BUNDLES, kind, 'teacher.json'), 'utf8'));
    expect(r).toMatchObject({ family: 'text', kind, labelCount: manifest.labels.length, maxLength: manifest.max_length });
    expect(r.inputs.map((i: { name: string }) => i.name)).toEqual(['input_ids', 'attention_mask', 'token_type_ids']);
    expect(r.outputs[0].name).toBe(manifest.output);
    expect(r.testScore.top).toHaveLength(5);
    for (let i = 1; i < 5; i++) expect(r.testScore.top[i].score).toBeLessThanOrEqual(r.testScore.top[i - 1].score);
    for (const t of r.testScore.top) expect(manifest.labels).toContain(t.label);
  });

  it('teacher inspect refuses a bundle without its tokenizer, naming the file', async () => {
    const bad = join(dir, 'no-tokenizer');
    await cp(join(BUNDLES, 'classifier'), bad, { recursive: true });
    await rm(join(bad, 'tokenizer.json'));
    const { code, stderr } = await fails(['teacher', 'inspect', bad, '--json']);
    expect(code).toBe(2);
    expect(stderr).toContain(`${bad}: missing tokenizer.json`);
  });

  it('train --teacher BUNDLE distils the classifier; re-mined pools only score new pairs', async () => {
    const { stdout, stderr } = await run('node', [
      BIN, 'train', '--train', join(MINI, 'train.jsonl'), '--test', join(MINI, 'test.jsonl'), '--teacher', join(BUNDLES, 'classifier'),
      '--alpha', '0.5', '--epochs', '3', '--remine-every', '1', '--pool-size', '32', '--json',
    ]);
    const m = JSON.parse(stdout);
    expect(m.pairsScored).toBeGreaterThan(0);
    expect(m.teacher['p@1']).toBeGreaterThan(0);
    const rounds = [...stderr.matchAll(/teacher scored (\d+) new pairs \((\d+) cached\)/g)].map((x) => ({ fresh: Number(x[1]), cached: Number(x[2]) }));
    expect(rounds.length).toBe(3); // the first pool, then re-mined before epochs 2 and 3
    expect(rounds.reduce((s, r) => s + r.fresh, 0)).toBe(m.pairsScored);
    for (let i = 1; i < rounds.length; i++) {
      expect(rounds[i].cached).toBe(rounds[i - 1].cached + rounds[i].fresh); // nothing scored twice
      expect(rounds[i].fresh).toBeLessThan(rounds[0].fresh); // re-mined pools overlap the earlier ones
    }
  }, 120_000);

  it.each(['cross-encoder', 'bi-encoder'] as const)('train --teacher BUNDLE with a %s', async (kind) => {
    const { stdout } = await run('node', [
      BIN, 'train', '--train', join(MINI, 'train.jsonl'), '--test', join(MINI, 'test.jsonl'), '--teacher', join(BUNDLES, kind),
      '--alpha', '0.5', '--epochs', '2', '--pool-size', '16', '--json',
    ]);
    const m = JSON.parse(stdout);
    expect(m.pairsScored).toBeGreaterThan(0);
    expect(m['p@1']).toBeGreaterThan(0);
  }, 120_000);

  it('train refuses a dataset whose labels the teacher does not know, naming them', async () => {
    const rows = (await readFile(join(MINI, 'train.jsonl'), 'utf8')).trim().split('\n').slice(0, 40);
    rows[3] = JSON.stringify({ text: 'a package', labels: ['made::up'] });
    await writeFile(join(dir, 'train.jsonl'), rows.join('\n') + '\n');
    const { code, stderr } = await fails(['train', '--train', join(dir, 'train.jsonl'), '--teacher', join(BUNDLES, 'classifier'), '--alpha', '0.5', '--epochs', '1']);
    expect(code).toBe(2);
    expect(stderr).toMatch(/1 of the dataset's \d+ labels are not in the teacher's manifest labels \(247\): "made::up"/);
  }, 60_000);
});
