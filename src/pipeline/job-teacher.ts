/**
 * The teacher of a training job, whichever family it is: a sparse ONNX model (a file) or a
 * text-teacher bundle (a folder with teacher.json). A text teacher reads the raw text of the
 * rows it scores, so it is bound here to the texts of the job's train and test files; the rest
 * of the job sees one CandidateScorer either way.
 */
import type { Csr } from '../core/data/csr.js';
import { UsageError } from '../core/util/errors.js';
import { readJsonlRecords } from '../core/data/jsonl-format.js';
import { OnnxTeacher, type CandidateScorer, type ScoreOptions } from '../teacher/onnx-teacher.js';
import { isBundleDir } from '../teacher/text/text-bundle.js';
import { TextTeacher, type LabelBinding } from '../teacher/text/text-teacher.js';

export interface JobTeacher extends CandidateScorer {
  /** 'onnx': the sparse contract; otherwise the text bundle's kind. */
  readonly family: 'onnx' | 'text';
  readonly numLabels: number | null;
  readonly temperature: number;
  close(): Promise<void>;
}

/** Texts of a JSONL file, in row order (the order its Dataset rows have). */
export async function readTexts(path: string): Promise<string[]> {
  const texts: string[] = [];
  await readJsonlRecords(path, (text) => texts.push(text));
  return texts;
}

/** A text teacher scoring the rows of known feature matrices through their texts. */
export class BoundTextTeacher implements JobTeacher {
  readonly family = 'text';
  readonly numLabels = null;

  constructor(
    readonly teacher: TextTeacher,
    readonly labels: LabelBinding,
    /** Which texts the rows of each feature matrix are (the train and test datasets of the job). */
    private readonly textsOf: ReadonlyMap<Csr, readonly string[]>,
  ) {}

  get temperature(): number {
    return this.teacher.temperature;
  }

  scoreCandidates(features: Csr, examples: Int32Array, candidates: Csr, opts?: ScoreOptions): Promise<Float32Array> {
    const texts = this.textsOf.get(features);
    if (!texts) throw new Error('a text teacher can only score the rows of the datasets it was bound to');
    return this.teacher.scoreTexts(texts, examples, candidates, this.labels, opts);
  }

  close(): Promise<void> {
    return this.teacher.close();
  }
}

/** The rows of a feature matrix and their texts, given or read from the JSONL file. */
export type TextSplit = { features: Csr; path: string } | { features: Csr; texts: readonly string[] };

/**
 * Loads the job's teacher. A bundle needs JSONL data with label names (its labels are matched by
 * name) and the files the datasets were read from, for their texts.
 */
export async function loadJobTeacher(
  path: string,
  opts: { threads?: number; labelNames?: readonly string[]; splits: TextSplit[]; log?: (line: string) => void },
): Promise<JobTeacher> {
  if (!(await isBundleDir(path))) {
    const t = await OnnxTeacher.load(path, { intraOpThreads: opts.threads });
    return Object.assign(t, { family: 'onnx' as const });
  }
  if (!opts.labelNames) throw new UsageError(`${path} is a text teacher: it needs a JSONL dataset with string labels (it matches labels by name)`);
  const teacher = await TextTeacher.load(path, { intraOpThreads: opts.threads });
  try {
    const labels = teacher.bindLabels(opts.labelNames);
    const textsOf = new Map<Csr, readonly string[]>();
    for (const s of opts.splits) {
      const texts = 'texts' in s ? s.texts : await readTexts(s.path);
      if (texts.length !== s.features.rows) throw new Error(`${'path' in s ? s.path : 'texts'}: ${texts.length} texts for ${s.features.rows} rows`);
      textsOf.set(s.features, texts);
    }
    opts.log?.(`text teacher: ${teacher.kind}, max_length ${teacher.manifest.max_length}${labels.unused ? `, ${labels.unused} of its labels not in the dataset (unused)` : ''}`);
    return new BoundTextTeacher(teacher, labels, textsOf);
  } catch (e) {
    await teacher.close();
    throw e;
  }
}
