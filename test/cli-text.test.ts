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
  });

  it('refuses a malformed JSONL line with file and line', async () => {
    await writeFile(join(dir, 'bad.jsonl'), '{"text": "a b", "labels": ["x"]}\n{"text": 3, "labels": []}\n');
    const err = await run('node', [BIN, 'data', 'stats', join(dir, 'bad.jsonl')]).catch((e) => e);
    expect(err.code).toBe(2);
    expect(err.stderr).toContain(`${join(dir, 'bad.jsonl')}:2:`);
  });
});
