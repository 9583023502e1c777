import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const BIN = resolve('bin/distilxr.js');
const DATA = resolve('../shared/datasets/bibtex');

/** Bibtex rows as JSONL text: the words of each row's features, the tag names as labels. */
async function bibtexAsJsonl(xcFile: string, out: string, rows: number): Promise<string[]> {
  const words = (await readFile(join(DATA, 'bibtex_feature_names.txt'), 'utf8')).split('\n');
  const tags = (await readFile(join(DATA, 'bibtex_label_names.txt'), 'utf8')).split('\n');
  const lines = (await readFile(xcFile, 'utf8')).split('\n').slice(1, rows + 1);
  const texts: string[] = [];
  const jsonl = lines.map((line) => {
    const [labelPart, ...feats] = line.split(' ');
    const text = feats.map((f) => words[Number(f.split(':')[0])]).join(' ');
    texts.push(text);
    return JSON.stringify({ text, labels: labelPart.split(',').map((l) => tags[Number(l)]) });
  });
  await writeFile(out, jsonl.join('\n') + '\n');
  return texts;
}

describe('distilxr on JSONL text', () => {
  let dir: string;
  let testTexts: string[];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'distilxr-text-'));
    await bibtexAsJsonl(join(DATA, 'bibtex_mulan_train.txt'), join(dir, 'train.jsonl'), 3000);
    testTexts = await bibtexAsJsonl(join(DATA, 'bibtex_mulan_test.txt'), join(dir, 'test.jsonl'), 500);
  });

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('trains from text, saves the featurizer, and answers raw-text queries with label names', async () => {
    const { stdout } = await run('node', [BIN, 'train', '--train', join(dir, 'train.jsonl'), '--test', join(dir, 'test.jsonl'), '--epochs', '8', '--out', join(dir, 'model'), '--json']);
    const m = JSON.parse(stdout);
    expect(m['p@1']).toBeGreaterThan(0.35); // tf-idf over the same words as the XC features
    const q = JSON.parse((await run('node', [BIN, 'query', '--model', join(dir, 'model'), '--text', testTexts[0], '-k', '3', '--json'])).stdout);
    expect(q.results).toHaveLength(3);
    for (const r of q.results) expect(r.name).toMatch(/^TAG_/);
    const ev = JSON.parse((await run('node', [BIN, 'eval', '--model', join(dir, 'model'), '--test', join(dir, 'test.jsonl'), '--json'])).stdout);
    expect(ev['p@1']).toBeCloseTo(m['p@1'], 6);
  }, 300_000);

  it('on a slice of debtags, the student distilled with --auto beats plain negative sampling and its floor', async () => {
    const DEBTAGS = resolve('../shared/datasets/debtags');
    const slice = async (name: string, rows: number): Promise<string> => {
      const out = join(dir, `debtags-${name}`);
      await writeFile(out, (await readFile(join(DEBTAGS, name), 'utf8')).split('\n').slice(0, rows).join('\n') + '\n');
      return out;
    };
    const train = await slice('train.jsonl', 4000);
    const test = await slice('test.jsonl', 1000);
    const teacher = join(dir, 'debtags-teacher.onnx');
    const json = async (args: string[]): Promise<Record<string, any>> => JSON.parse((await run('node', [BIN, ...args, '--json'], { maxBuffer: 1 << 26 })).stdout);
    const fit = await json(['teacher', 'fit', '--train', train, '--test', test, '--out', teacher, '--folds', '2']);
    // one thread: the same digits every run (Hogwild's vary, and these margins are small)
    const plain = await json(['train', '--train', train, '--test', test, '--alpha', '0', '--threads', '1']);
    const bare = await json(['train', '--train', train, '--test', test, '--alpha', '0', '--neighbours', '0', '--threads', '1']);
    const auto = await json(['train', '--train', train, '--test', test, '--teacher', teacher, '--auto-budget', '60', '--threads', '1']);
    expect(auto.auto.trials.length).toBeGreaterThanOrEqual(1);
    expect(auto.hnsw['p@1']).toBeGreaterThan(0.68); // observed 0.694; teacher 0.697
    // the neighbour vote lifts plain negative sampling (observed 0.670 → 0.690) ...
    expect(plain['p@1']).toBeGreaterThan(bare['p@1'] + 0.01);
    // ... and the distilled student beats plain negative sampling (observed +0.024 over 0.670, +0.004 over 0.690)
    expect(auto['p@1']).toBeGreaterThan(bare['p@1'] + 0.015);
    expect(auto['p@1']).toBeGreaterThanOrEqual(plain['p@1'] - 0.01);
    expect(auto['p@1']).toBeGreaterThan(fit['p@1'] - 0.03); // the student keeps the teacher's precision
  }, 600_000); // ~2 min alone on 2 cores

  it('refuses a malformed JSONL line with file and line', async () => {
    await writeFile(join(dir, 'bad.jsonl'), '{"text": "a b", "labels": ["x"]}\n{"text": 3, "labels": []}\n');
    const err = await run('node', [BIN, 'data', 'stats', join(dir, 'bad.jsonl')]).catch((e) => e);
    expect(err.code).toBe(2);
    expect(err.stderr).toContain(`${join(dir, 'bad.jsonl')}:2:`);
  });
});
