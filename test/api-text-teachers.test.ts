/**
 * POST /v1/teachers with a text-teacher bundle (.tar or .zip) over the real service parts: the
 * committed tiny bundles are accepted with their kind; each mismatch is a 400 naming it, and a
 * refused upload leaves nothing behind. A stored bundle unpacks into a folder a job can load.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { zipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readBundleDir } from '../src/teacher/text/text-bundle.js';
import { TextTeacher } from '../src/teacher/text/text-teacher.js';
import { unpackedBundleDir } from '../src/teacher/text/stored-bundle.js';
import { filesUnder } from './support/files-under.js';
import { BUNDLES, MINI, tarOf } from './support/text-bundles.js';
import { form, type Files } from './support/multipart.js';
import { closeServiceEnv, openServiceEnv, type ServiceEnv } from './support/service-env.js';

/** A .zip of the bundle's files at its top, with `change` applied to the file map first. */
async function zipOf(kind: string, change: (files: Map<string, Uint8Array>) => void = () => {}): Promise<Uint8Array> {
  const files = new Map(await readBundleDir(join(BUNDLES, kind)));
  change(files);
  return zipSync(Object.fromEntries(files));
}

describe('text-teacher bundles over HTTP', () => {
  let env: ServiceEnv;
  beforeAll(async () => {
    env = await openServiceEnv('api-text-teachers', { maxUploadBytes: 4 << 20 });
  });
  afterAll(async () => closeServiceEnv(env));

  const upload = (files: Files, fields?: Record<string, string>) => env.app.inject({ method: 'POST', url: '/v1/teachers', payload: form(files, fields) });
  const orphans = async (): Promise<string[]> => {
    const ids = (await env.repo.listTeachers()).map((t) => t.id);
    return (await filesUnder(join(env.dataDir, 'artifacts', 'teachers'))).filter((f) => !ids.some((id) => f.includes(`/teachers/${id}/`)));
  };

  it.each(['classifier', 'cross-encoder', 'bi-encoder'])('accepts a .tar of a %s bundle', async (kind) => {
    const archive = await tarOf(join(BUNDLES, kind));
    const r = await upload({ bundle: { data: archive, filename: `${kind}.tar` } });
    expect(r.statusCode).toBe(201);
    expect(r.json()).toMatchObject({ name: `${kind}.tar`, kind, numLabels: 247, sizeBytes: archive.length });
  });

  it('accepts a .zip, and the stored archive unpacks into a bundle a job loads', async () => {
    const r = await upload({ bundle: { data: await zipOf('classifier'), filename: 'c.zip' } }, { name: 'zipped classifier' });
    expect(r.statusCode).toBe(201);
    const record = (await env.repo.getTeacher(r.json().id))!;
    const dir = await unpackedBundleDir(env.store.pathOf(record.key));
    expect(await unpackedBundleDir(env.store.pathOf(record.key))).toBe(dir); // once
    const t = await TextTeacher.load(dir);
    try {
      expect(t.kind).toBe('classifier');
      expect((await t.trialScore('a library', undefined, 3)).top).toHaveLength(3);
    } finally {
      await t.close();
    }
  });

  const refusals: [string, () => Promise<Uint8Array>, string][] = [
    ['not an archive', async () => new TextEncoder().encode('just text, no archive at all'.repeat(20)), 'b.tar: not a .tar or .zip archive'],
    ['no tokenizer.json', () => zipOf('classifier', (f) => f.delete('tokenizer.json')), 'b.tar: missing tokenizer.json'],
    ['no model.onnx', () => zipOf('classifier', (f) => f.delete('model.onnx')), 'b.tar: missing model.onnx'],
    [
      'inputs the model does not have',
      () =>
        zipOf('cross-encoder', (f) => {
          const m = JSON.parse(new TextDecoder().decode(f.get('teacher.json')));
          m.inputs = ['input_ids', 'attention_mask'];
          f.set('teacher.json', new TextEncoder().encode(JSON.stringify(m)));
        }),
      "b.tar/model.onnx: the model's inputs are [attention_mask, input_ids, token_type_ids], the manifest declares [attention_mask, input_ids]",
    ],
    [
      'a label count that differs from the logits',
      () =>
        zipOf('classifier', (f) => {
          const m = JSON.parse(new TextDecoder().decode(f.get('teacher.json')));
          m.labels.push('one::more');
          f.set('teacher.json', new TextEncoder().encode(JSON.stringify(m)));
        }),
      'b.tar/model.onnx: output "logits" has 247 columns, the manifest lists 248 labels',
    ],
    ['files in a sub-folder', async () => zipSync({ 'a/teacher.json': new Uint8Array(1), 'b/model.onnx': new Uint8Array(1) }), 'b.tar: "a/teacher.json" is in a sub-folder; a bundle\'s files sit together at its top'],
    ['an unsafe path', async () => zipSync({ '../teacher.json': new Uint8Array(1) }), 'b.tar: unsafe path "../teacher.json" in the archive'],
  ];
  it.each(refusals)('refuses %s with a 400 naming it, keeping nothing', async (_what, make, message) => {
    const before = (await env.repo.listTeachers()).length;
    const r = await upload({ bundle: { data: await make(), filename: 'b.tar' } });
    expect(r.statusCode).toBe(400);
    expect(r.json()).toMatchObject({ code: 'DXR_TEACHER_CONTRACT', message });
    expect((await env.repo.listTeachers()).length).toBe(before);
    expect(await orphans()).toEqual([]);
  });

  it('refuses both a model and a bundle, and neither', async () => {
    const both = await upload({ model: { data: new Uint8Array(8), filename: 'm.onnx' }, bundle: { data: await zipOf('classifier'), filename: 'b.zip' } });
    expect(both.statusCode).toBe(400);
    expect(both.json().message).toBe('give either "model" (an ONNX file) or "bundle" (a text-teacher .tar or .zip), not both');
    const neither = await upload({}, { name: 'x' });
    expect(neither.statusCode).toBe(400);
    expect(neither.json().code).toBe('DXR_MISSING_FILE');
  });

  it('a job with a text teacher needs a JSONL dataset', async () => {
    const teacher = (await upload({ bundle: { data: await tarOf(join(BUNDLES, 'classifier')), filename: 'c.tar' } })).json();
    const jsonl = await env.app.inject({
      method: 'POST',
      url: '/v1/datasets',
      payload: form({ train: { data: await readFile(join(MINI, 'train.jsonl')), filename: 'train.jsonl' }, test: { data: await readFile(join(MINI, 'test.jsonl')), filename: 'test.jsonl' } }),
    });
    expect(jsonl.statusCode).toBe(201);
    const ok = await env.app.inject({ method: 'POST', url: '/v1/jobs', payload: { datasetId: jsonl.json().id, teacherId: teacher.id, params: { alpha: 0.5, epochs: 1 } } });
    expect(ok.statusCode).toBe(202);
    const xc = await env.app.inject({ method: 'POST', url: '/v1/datasets', payload: form({ train: { data: '2 3 2\n0 0:1 1:0.5\n1 2:1\n', filename: 'x.txt' } }) });
    expect(xc.statusCode).toBe(201);
    const refused = await env.app.inject({ method: 'POST', url: '/v1/jobs', payload: { datasetId: xc.json().id, teacherId: teacher.id, params: { alpha: 0.5, epochs: 1 } } });
    expect(refused.statusCode).toBe(400);
    expect(refused.json().message).toBe(`teacher "${teacher.id}" is a text classifier: it reads raw text, and dataset "${xc.json().id}" is xc (sparse features)`);
  });
});
