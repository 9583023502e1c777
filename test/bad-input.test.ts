/**
 * Every file of the malformed corpus (test/fixtures/malformed, see its README) is refused by the
 * library with the project's typed error naming file, line and problem, and over HTTP with a 400
 * naming field, line and problem, after which the service still serves and nothing stored has
 * changed. Huge lines are generated here rather than committed.
 */
import { readdirSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ContractError, DataFormatError } from '../src/core/util/errors.js';
import { loadTrainTest } from '../src/core/data/load-dataset.js';
import { MAX_LINE_BYTES } from '../src/core/util/text-encoding.js';
import { checkTeacherContract } from '../src/teacher/contract.js';
import { closeServiceEnv, openServiceEnv, storedState, upload, type ServiceEnv } from './support/service-env.js';
import { randomTeacherOnnx } from './support/random-teacher.js';

const CORPUS = resolve('test/fixtures/malformed');

/** Dataset fixtures: the line the error names and a fragment of the problem. */
const DATASETS: Record<string, [line: number, problem: string]> = {
  'xc/binary-garbage-no-nul.bin': [1, 'header must be 3 non-negative integers'],
  'xc/binary-garbage.bin': [1, 'binary data (a NUL byte at column 27)'],
  'xc/blank-line-inside-data.txt': [3, 'blank line inside the data'],
  'xc/cr-only-line-endings.txt': [1, 'header must be 3 non-negative integers'],
  'xc/duplicate-feature-ids.txt': [2, 'duplicate feature id 3'],
  'xc/duplicate-label-ids.txt': [3, 'duplicate label id 1'],
  'xc/empty.txt': [1, 'empty file'],
  'xc/feature-id-huge.txt': [3, 'feature id "99999999999999999999" out of range [0, 10)'],
  'xc/feature-id-negative.txt': [2, 'negative feature id'],
  'xc/feature-id-out-of-range.txt': [3, 'feature id "10" out of range [0, 10)'],
  'xc/header-count-over-int32.txt': [1, 'is larger than 2147483647'],
  'xc/header-declares-fewer-rows.txt': [3, 'extra row: the header declares 1 rows'],
  'xc/header-declares-more-rows.txt': [3, 'file ends after 2 rows, header declares 4'],
  'xc/header-fractional-count.txt': [1, 'header must be 3 non-negative integers'],
  'xc/header-missing.txt': [1, 'header must be 3 non-negative integers'],
  'xc/header-negative-count.txt': [1, 'header must be 3 non-negative integers'],
  'xc/header-non-numeric.txt': [1, 'header must be 3 non-negative integers'],
  'xc/header-only.txt': [1, 'file ends after 0 rows, header declares 2'],
  'xc/header-over-feature-limit.txt': [1, 'header declares 2147483647 features, more than the limit'],
  'xc/header-over-label-limit.txt': [1, 'header declares 99999999 labels, more than the limit'],
  'xc/header-too-few-fields.txt': [1, 'header must be 3 non-negative integers'],
  'xc/header-too-many-fields.txt': [1, 'header must be 3 non-negative integers'],
  'xc/header-zero-points.txt': [1, 'no data rows'],
  'xc/label-id-negative.txt': [3, 'negative label id'],
  'xc/label-id-non-numeric.txt': [2, 'label id "two" is not a non-negative integer'],
  'xc/label-id-out-of-range.txt': [3, 'label id "5" out of range [0, 5)'],
  'xc/nul-byte-in-row.txt': [3, 'binary data (a NUL byte at column 8)'],
  'xc/utf16be-bom.txt': [1, 'UTF-16 big-endian (byte order mark FE FF)'],
  'xc/utf16le-bom.txt': [1, 'UTF-16 little-endian (byte order mark FF FE)'],
  'xc/utf16le-no-bom.txt': [1, 'binary data (a NUL byte at column 2)'],
  'xc/value-empty.txt': [2, 'has no value after'],
  'xc/value-float32-overflow.txt': [3, 'value "1e39" is not finite'],
  'xc/value-inf.txt': [3, 'value "Infinity" is not finite'],
  'xc/value-missing-colon.txt': [2, `feature "3" has no ':value'`],
  'xc/value-nan.txt': [2, 'value "nan" is not finite'],
  'xc/value-negative-inf.txt': [2, 'value "-inf" is not finite'],
  'xc/value-non-numeric.txt': [2, 'value "abc" is not a number'],
  'xc/value-two-points.txt': [2, 'value "1.2.3" is not a number'],
  'jsonl/binary-garbage.jsonl': [1, 'binary data (a NUL byte at column 35)'],
  'jsonl/blank-lines-only.jsonl': [1, 'empty file: only blank lines'],
  'jsonl/duplicate-labels.jsonl': [2, 'duplicate label "birds"'],
  'jsonl/empty.jsonl': [1, 'empty file'],
  'jsonl/infinity-literal.jsonl': [2, 'bad JSON'],
  'jsonl/label-boolean.jsonl': [2, 'label true is neither a non-negative integer id nor a string'],
  'jsonl/label-empty-string.jsonl': [2, 'empty string label'],
  'jsonl/label-float.jsonl': [2, 'label 2.5 is neither'],
  'jsonl/label-id-over-limit.jsonl': [2, 'label id 16777216 is past the limit'],
  'jsonl/label-negative.jsonl': [2, 'label -2 is neither'],
  'jsonl/label-nested-array.jsonl': [2, 'label ["birds"] is neither'],
  'jsonl/label-null.jsonl': [2, 'label null is neither'],
  'jsonl/label-number-overflow.jsonl': [2, 'label Infinity is neither'],
  'jsonl/labels-missing.jsonl': [2, 'missing "labels"'],
  'jsonl/labels-mixed-kinds.jsonl': [2, 'labels mix integer ids and strings'],
  'jsonl/labels-not-an-array.jsonl': [2, '"labels" must be an array, got string'],
  'jsonl/labels-object.jsonl': [2, '"labels" must be an array, got object'],
  'jsonl/latin1-bytes.jsonl': [2, 'not valid UTF-8: byte 0xe9 at column 14'],
  'jsonl/nan-literal.jsonl': [2, 'bad JSON'],
  'jsonl/not-an-object-array.jsonl': [2, 'expected a JSON object'],
  'jsonl/not-an-object-null.jsonl': [2, 'expected a JSON object'],
  'jsonl/not-an-object-string.jsonl': [2, 'expected a JSON object'],
  'jsonl/not-json.jsonl': [2, 'bad JSON'],
  'jsonl/text-empty.jsonl': [2, '"text" is empty'],
  'jsonl/text-missing.jsonl': [2, 'missing "text"'],
  'jsonl/text-not-a-string.jsonl': [2, '"text" must be a string, got an array'],
  'jsonl/text-null.jsonl': [2, '"text" must be a string, got null'],
  'jsonl/text-whitespace-only.jsonl': [2, '"text" is empty'],
  'jsonl/trailing-garbage.jsonl': [2, 'bad JSON'],
  'jsonl/truncated-json.jsonl': [2, 'bad JSON'],
  'jsonl/utf16le-bom.jsonl': [1, 'UTF-16 little-endian (byte order mark FF FE)'],
};

/** ONNX fixtures: a fragment of the ContractError message. */
const TEACHERS: Record<string, string> = {
  'onnx/empty.onnx': 'not a valid ONNX model: empty file',
  'onnx/extra-input.onnx': 'unexpected input "mask"',
  'onnx/missing-input.onnx': 'missing input "feature_ids"',
  'onnx/nan-output.onnx': 'logits has a non-finite value (NaN) on a trial run',
  'onnx/no-graph.onnx': 'not a valid ONNX model: no graph',
  'onnx/random-bytes.onnx': 'not a valid ONNX model: ',
  'onnx/scores-without-candidates.onnx': 'output "scores" needs input "candidates"',
  'onnx/static-batch-dim.onnx': 'input "feature_ids" dim 0 (B) must be dynamic, found 1',
  'onnx/text-file.onnx': 'not a valid ONNX model: ',
  'onnx/truncated-half.onnx': 'not a valid ONNX model: truncated or corrupt protobuf',
  'onnx/truncated-last-bytes.onnx': 'not a valid ONNX model: truncated or corrupt protobuf',
  'onnx/two-outputs.onnx': 'model must have exactly one output ("scores" or "logits"), found 2',
  'onnx/unknown-operator.onnx': 'No Op registered for NoSuchOp',
  'onnx/wrong-dtype-candidates-int32.onnx': 'input "candidates" must be int64, found int32',
  'onnx/wrong-dtype-feature-ids-float.onnx': 'input "feature_ids" must be int64, found float32',
  'onnx/wrong-dtype-feature-values-double.onnx': 'input "feature_values" must be float32, found float64',
  'onnx/wrong-input-name.onnx': 'unexpected input "feature_idx"',
  'onnx/wrong-output-dtype.onnx': 'logits must be float32 [B,L], found int64 [B,M]',
  'onnx/wrong-output-name.onnx': 'output must be "scores" (with candidates) or "logits" (without), found "probs"',
  'onnx/wrong-output-rank.onnx': 'scores must be float32 [B,K], found float32 [B,K,1]',
  'onnx/wrong-output-shape-at-run.onnx': 'scores has shape [2,1] on a trial run with B=2: expected [2,3] for 3 candidates',
  'onnx/wrong-output-static-k.onnx': 'output "scores" dim 1 (K) must be dynamic, found 7',
  'onnx/wrong-rank-candidates-rank3.onnx': 'input "candidates" must have rank 2, found rank 3',
  'onnx/wrong-rank-feature-values-rank1.onnx': 'input "feature_values" must have rank 2, found rank 1',
};

/** Decided to be accepted: Windows line endings and a UTF-8 byte order mark. */
const ACCEPTED = ['jsonl/crlf-line-endings.accepted.jsonl', 'xc/crlf-line-endings.accepted.txt', 'xc/utf8-bom.accepted.txt'];

const GOOD_XC = '2 10 5\n0,2 0:1 3:0.5\n1 2:1.5 7:2\n';

let tmp: string;
/** Huge lines, generated: one line just over the limit, in each format. */
const huge: Record<string, [line: number, problem: string]> = {};

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'distilxr-bad-input-'));
  const over = MAX_LINE_BYTES + 1024;
  // XC: a valid start, then padding that would parse (spaces) if it were ever read whole
  await writeFile(join(tmp, 'huge-line.txt'), Buffer.concat([Buffer.from('2 10 5\n0 1:1'), Buffer.alloc(over, ' '), Buffer.from('\n1 2:1\n')]));
  await writeFile(
    join(tmp, 'huge-line.jsonl'),
    Buffer.concat([Buffer.from('{"text": "a b", "labels": [1]}\n{"text": "'), Buffer.alloc(over, 'a'), Buffer.from('", "labels": [2]}\n')]),
  );
  huge['huge-line.txt'] = [2, `line is longer than ${MAX_LINE_BYTES} bytes`];
  huge['huge-line.jsonl'] = [2, `line is longer than ${MAX_LINE_BYTES} bytes`];
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

function committed(): string[] {
  return ['xc', 'jsonl', 'onnx'].flatMap((d) => readdirSync(join(CORPUS, d)).map((f) => `${d}/${f}`)).sort();
}

async function refusal(path: string): Promise<DataFormatError> {
  const err = await loadTrainTest(path, undefined, { cacheDir: false }).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err, `${path} was accepted`).toBeInstanceOf(DataFormatError);
  return err as DataFormatError;
}

describe('the malformed corpus', () => {
  it('has an expectation for every committed file, and a file for every expectation', () => {
    expect(committed()).toEqual([...Object.keys(DATASETS), ...Object.keys(TEACHERS), ...ACCEPTED].sort());
  });
});

describe('library readers refuse each malformed dataset with DataFormatError(file, line, problem)', () => {
  for (const [name, [line, problem]] of Object.entries(DATASETS)) {
    it(name, async () => {
      const path = join(CORPUS, name);
      const e = await refusal(path);
      expect(e.file).toBe(path);
      expect(e.line).toBe(line);
      expect(e.message.startsWith(`${path}:${line}: `), e.message).toBe(true);
      expect(e.problem).toContain(problem);
    });
  }

  it('refuses a line over MAX_LINE_BYTES in XC and JSONL without reading it whole', async () => {
    for (const [name, [line, problem]] of Object.entries(huge)) {
      const e = await refusal(join(tmp, name));
      expect(e.line).toBe(line);
      expect(e.problem).toContain(problem);
    }
  });

  it('accepts CRLF line endings and a UTF-8 byte order mark, reading the same data as plain LF', async () => {
    const lf = join(tmp, 'lf.txt');
    await writeFile(lf, GOOD_XC);
    const want = (await loadTrainTest(lf, undefined, { cacheDir: false })).train;
    for (const name of ['xc/crlf-line-endings.accepted.txt', 'xc/utf8-bom.accepted.txt']) {
      const got = (await loadTrainTest(join(CORPUS, name), undefined, { cacheDir: false })).train;
      expect({ ...got, source: '' }).toEqual({ ...want, source: '' });
    }
    const jsonlLf = join(tmp, 'lf.jsonl');
    await writeFile(jsonlLf, (await readFile(join(CORPUS, 'jsonl/crlf-line-endings.accepted.jsonl'), 'utf8')).replaceAll('\r\n', '\n'));
    const crlf = await loadTrainTest(join(CORPUS, 'jsonl/crlf-line-endings.accepted.jsonl'), undefined);
    const plain = await loadTrainTest(jsonlLf, undefined);
    expect(crlf.train.labelNames).toEqual(['cats', 'dogs', 'birds']);
    expect({ ...crlf.train, source: '' }).toEqual({ ...plain.train, source: '' });
    expect(crlf.featurizer!.toJSON()).toEqual(plain.featurizer!.toJSON());
  });
});

describe('the teacher contract refuses each bad ONNX file with ContractError naming the mismatch', () => {
  for (const [name, problem] of Object.entries(TEACHERS)) {
    it(name, async () => {
      const err = await checkTeacherContract(new Uint8Array(await readFile(join(CORPUS, name)))).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err, `${name} was accepted`).toBeInstanceOf(ContractError);
      expect((err as Error).message).toContain(problem);
    });
  }
});

describe('over HTTP: 400 naming the problem, the service keeps serving, nothing stored changes', () => {
  let env: ServiceEnv;
  let goodTeacher: Uint8Array;

  beforeAll(async () => {
    // room for the generated huge line, so that it reaches the reader rather than the upload limit
    env = await openServiceEnv('bad-input', { maxUploadBytes: MAX_LINE_BYTES + (1 << 20) });
    goodTeacher = randomTeacherOnnx({ inputDim: 10, hiddenDim: 4, numLabels: 5, seed: 3 });
    // something stored already, so "nothing changes" covers existing rows and files too
    expect((await upload(env, '/v1/datasets', { train: { data: GOOD_XC } })).statusCode).toBe(201);
    expect((await upload(env, '/v1/teachers', { model: { data: goodTeacher, filename: 't.onnx' } })).statusCode).toBe(201);
  });
  afterAll(async () => closeServiceEnv(env));

  /** Sends the bad request, checks the answer, then that state is unchanged and a good request works. */
  async function refusedCleanly(send: () => ReturnType<typeof upload>, code: string, message: (m: string) => void, goodKind: 'datasets' | 'teachers') {
    const before = await storedState(env);
    const r = await send();
    expect(r.statusCode, r.body).toBe(400);
    expect(r.json().code).toBe(code);
    message(r.json().message);
    expect(r.json().message).not.toContain(env.dataDir);
    expect(await storedState(env)).toEqual(before);
    const good =
      goodKind === 'datasets'
        ? await upload(env, '/v1/datasets', { train: { data: GOOD_XC } })
        : await upload(env, '/v1/teachers', { model: { data: goodTeacher, filename: 't.onnx' } });
    expect(good.statusCode, good.body).toBe(201);
  }

  for (const [name, [line, problem]] of Object.entries(DATASETS)) {
    it(`dataset ${name}`, async () => {
      const data = await readFile(join(CORPUS, name));
      await refusedCleanly(
        () => upload(env, '/v1/datasets', { train: { data, filename: name.split('/')[1] } }),
        'DXR_DATA_FORMAT',
        (m) => {
          expect(m.startsWith(`train:${line}: `), m).toBe(true);
          expect(m).toContain(problem);
        },
        'datasets',
      );
    });
  }

  it('a malformed test split next to a good train file', async () => {
    const data = await readFile(join(CORPUS, 'xc/value-nan.txt'));
    await refusedCleanly(
      () => upload(env, '/v1/datasets', { train: { data: GOOD_XC }, test: { data } }),
      'DXR_DATA_FORMAT',
      (m) => expect(m).toBe('test:2: feature 3: value "nan" is not finite'),
      'datasets',
    );
  });

  for (const name of Object.keys(huge)) {
    it(`dataset with a generated line over ${MAX_LINE_BYTES} bytes (${name})`, async () => {
      const data = await readFile(join(tmp, name));
      await refusedCleanly(
        () => upload(env, '/v1/datasets', { train: { data } }),
        'DXR_DATA_FORMAT',
        (m) => expect(m).toBe(`train:2: line is longer than ${MAX_LINE_BYTES} bytes (the limit for one line)`),
        'datasets',
      );
    });
  }

  for (const [name, problem] of Object.entries(TEACHERS)) {
    it(`teacher ${name}`, async () => {
      const data = await readFile(join(CORPUS, name));
      await refusedCleanly(
        () => upload(env, '/v1/teachers', { model: { data, filename: name.split('/')[1] } }),
        'DXR_TEACHER_CONTRACT',
        (m) => expect(m).toContain(problem),
        'teachers',
      );
    });
  }

  it('accepts the CRLF and byte-order-mark files', async () => {
    for (const name of ACCEPTED) {
      const r = await upload(env, '/v1/datasets', { train: { data: await readFile(join(CORPUS, name)) } });
      expect(r.statusCode, r.body).toBe(201);
      expect(r.json().stats.points).toBe(2);
    }
  });
});
