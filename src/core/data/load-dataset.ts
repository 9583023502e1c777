/**
 * One entry point for training data: detects XC vs JSONL by content, loads train (and test) so
 * that both live in the same feature space, with test labels widened past the training ones.
 */
import { open } from 'node:fs/promises';
import { readXcCached } from './binary-cache.js';
import type { Dataset } from './dataset.js';
import { checkDeclaredSizes } from './declared-sizes.js';
import { DataFormatError, UsageError } from '../util/errors.js';
import type { Featurizer, FeaturizerOptions } from './featurizer.js';
import { readJsonlTrain, readJsonlWithFeaturizer, type LabelMap } from './jsonl-format.js';
import { notText } from '../util/text-encoding.js';
import { readXcFile } from './xc-format.js';

export type DataFormat = 'xc' | 'jsonl';

export interface LoadOptions {
  /** Text featurizer settings (JSONL only). */
  featurizer?: FeaturizerOptions;
  /** Binary cache for XC files; false disables it. @defaultValue defaultCacheDir() */
  cacheDir?: string | false;
}

/**
 * First non-blank character `{` means JSONL, anything else XC (which then validates itself). An
 * empty, blank, UTF-16/32 or binary file is refused here, so it is not reported as a bad XC header.
 */
export async function detectFormat(path: string): Promise<DataFormat> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(64 * 1024);
    let pos = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      // nothing but blanks: say so, rather than report a missing XC header to a JSONL user
      if (bytesRead === 0) throw new DataFormatError(path, 1, pos === 0 ? 'empty file' : 'empty file: only blank lines');
      if (pos === 0) {
        const bad = notText(buf.subarray(0, bytesRead));
        if (bad) throw new DataFormatError(path, bad.line, bad.problem);
      }
      for (let i = 0; i < bytesRead; i++) {
        const c = buf[i];
        // skip whitespace and a UTF-8 byte order mark
        if (c === 32 || c === 9 || c === 10 || c === 13 || (pos === 0 && i < 3 && (c === 0xef || c === 0xbb || c === 0xbf))) continue;
        return c === 0x7b ? 'jsonl' : 'xc';
      }
      pos += bytesRead;
    }
  } finally {
    await fh.close();
  }
}

function readXc(path: string, cacheDir: string | false | undefined): Promise<Dataset> {
  if (cacheDir === false) return readXcFile(path);
  return cacheDir === undefined ? readXcCached(path) : readXcCached(path, cacheDir);
}

/**
 * Loads the training file and, when given, the test file in the same format. XC: test feature
 * ids must fit the training feature count; test label ids past the training labels widen the
 * test's label columns. JSONL: the featurizer is fitted on train and applied to test.
 */
export async function loadTrainTest(
  trainPath: string,
  testPath: string | undefined,
  opts: LoadOptions = {},
): Promise<{ train: Dataset; test?: Dataset; featurizer?: Featurizer; labelMap?: LabelMap }> {
  const format = await detectFormat(trainPath);
  if (testPath !== undefined) {
    const testFormat = await detectFormat(testPath);
    if (testFormat !== format) {
      throw new UsageError(`training file ${trainPath} is ${format} but test file ${testPath} is ${testFormat}`);
    }
  }
  if (format === 'jsonl') {
    const { dataset: train, featurizer, labelMap } = await readJsonlTrain(trainPath, opts.featurizer);
    const test = testPath === undefined ? undefined : await readJsonlWithFeaturizer(testPath, featurizer, labelMap);
    return { train, test, featurizer, labelMap };
  }
  const train = await readXc(trainPath, opts.cacheDir);
  // an empty XC file is well-formed, but nothing can be trained on it
  if (train.features.rows === 0) throw new DataFormatError(trainPath, 1, 'no data rows: the header declares 0 points');
  checkDeclaredSizes(trainPath, train.features, train.labels);
  if (testPath === undefined) return { train };
  const rawTest = await readXc(testPath, opts.cacheDir);
  // the test split may declare the training counts; labels beyond them must be its own
  checkDeclaredSizes(testPath, rawTest.features, rawTest.labels, { features: train.features.cols, labels: train.labels.cols });
  const test = alignXcTest(train, rawTest);
  return { train, test };
}

/** Puts an XC test split into the training feature space and widens its labels to cover train's. */
function alignXcTest(train: Dataset, test: Dataset): Dataset {
  if (test.features.cols > train.features.cols) {
    throw new DataFormatError(
      test.source,
      1,
      `header declares ${test.features.cols} features but the training file ${train.source} declares ${train.features.cols}`,
    );
  }
  return {
    ...test,
    features: { ...test.features, cols: train.features.cols },
    labels: { ...test.labels, cols: Math.max(test.labels.cols, train.labels.cols) },
  };
}

/**
 * Loads one file. XC needs nothing else; JSONL needs the fitted featurizer and training label map
 * (saved with a model), since a single file cannot define the feature space.
 */
export async function loadDataset(
  path: string,
  opts: { cacheDir?: string | false; featurizer?: Featurizer; labelMap?: LabelMap } = {},
): Promise<Dataset> {
  if ((await detectFormat(path)) === 'xc') return readXc(path, opts.cacheDir);
  if (!opts.featurizer || !opts.labelMap) {
    throw new UsageError(`${path} is JSONL text: loading it needs the featurizer and label map fitted on the training file`);
  }
  return readJsonlWithFeaturizer(path, opts.featurizer, opts.labelMap);
}
