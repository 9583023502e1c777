/**
 * Text datasets as JSONL: one object per line, `{"text": "...", "labels": [...]}`, labels all
 * integer ids or all strings within a file. The training file fits the featurizer and the label
 * map; other files go through both. A label unknown to training gets an id past the training
 * labels, so it can never be predicted but still counts against recall.
 */
import { CsrBuilder } from './csr.js';
import { MAX_LABELS, type Dataset } from './dataset.js';
import { DataFormatError } from '../util/errors.js';
import { type Featurizer, FeaturizerFitter, type FeaturizerOptions } from './featurizer.js';
import { firstInvalidUtf8 } from '../util/text-encoding.js';
import { forEachLine } from '../util/line-reader.js';

/**
 * Labels of the training split. 'int': ids used as they are, numLabels = max id + 1.
 * 'string': names[id] in order of first appearance, numLabels = names.length. Plain JSON.
 */
export interface LabelMap {
  kind: 'int' | 'string';
  numLabels: number;
  names?: string[];
}

type RecordSink = (text: string, labels: readonly unknown[], line: number) => void;

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Streams the records of a JSONL file, checking encoding (UTF-8), shape, label types and that the
 * file keeps to one label kind. Blank lines are skipped; a line over MAX_LINE_BYTES is refused
 * before it is read whole. Returns the label kind (null when no record has labels).
 */
export async function readJsonlRecords(path: string, onRecord: RecordSink): Promise<'int' | 'string' | null> {
  let records = 0;
  let kind: 'int' | 'string' | null = null;
  let kindLine = 0;
  const lines = await forEachLine(path, (buf, start, end, lineNo) => {
    let line: string;
    try {
      line = utf8.decode(buf.subarray(start, end));
    } catch {
      const at = firstInvalidUtf8(buf, start, end);
      const where = at < 0 ? '' : `: byte 0x${buf[at].toString(16).padStart(2, '0')} at column ${at - start + 1}`;
      throw new DataFormatError(path, lineNo, `not valid UTF-8${where} (save the file as UTF-8)`);
    }
    if (line.trim().length === 0) return;
    let obj: unknown;
    try {
      obj = JSON.parse(line);
    } catch (err) {
      throw new DataFormatError(path, lineNo, `bad JSON: ${(err as Error).message}`);
    }
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
      throw new DataFormatError(path, lineNo, 'expected a JSON object {"text": ..., "labels": [...]}');
    }
    const o = obj as { text?: unknown; labels?: unknown };
    if (o.text === undefined) throw new DataFormatError(path, lineNo, 'missing "text"');
    if (typeof o.text !== 'string') throw new DataFormatError(path, lineNo, `"text" must be a string, got ${typeName(o.text)}`);
    if (o.text.trim().length === 0) throw new DataFormatError(path, lineNo, '"text" is empty');
    if (o.labels === undefined) throw new DataFormatError(path, lineNo, 'missing "labels"');
    if (!Array.isArray(o.labels)) throw new DataFormatError(path, lineNo, `"labels" must be an array, got ${typeName(o.labels)}`);
    for (const l of o.labels) {
      let k: 'int' | 'string';
      if (typeof l === 'string') {
        if (l.length === 0) throw new DataFormatError(path, lineNo, 'empty string label');
        k = 'string';
      } else if (typeof l === 'number' && Number.isInteger(l) && l >= 0) {
        if (l >= MAX_LABELS) throw new DataFormatError(path, lineNo, `label id ${l} is past the limit of ${MAX_LABELS} labels`);
        k = 'int';
      } else {
        throw new DataFormatError(path, lineNo, `label ${typeof l === 'number' ? String(l) : JSON.stringify(l)} is neither a non-negative integer id nor a string`);
      }
      if (kind === null) {
        kind = k;
        kindLine = lineNo;
      } else if (k !== kind) {
        throw new DataFormatError(
          path,
          lineNo,
          `labels mix integer ids and strings: label ${JSON.stringify(l)} is ${k === 'int' ? 'an integer' : 'a string'}, line ${kindLine} has ${kind === 'int' ? 'integer ids' : 'strings'}`,
        );
      }
    }
    records++;
    onRecord(o.text, o.labels, lineNo);
  });
  if (records === 0) throw new DataFormatError(path, Math.max(1, lines), 'empty file: no JSON records');
  return kind;
}

function typeName(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v;
}

/**
 * Maps raw labels to ids while reading one file. Fitting (`frozen` false) assigns string ids in
 * order of first appearance; frozen, unknown labels get ids past the training count.
 */
class LabelAssigner {
  readonly builder = new CsrBuilder(false);
  private readonly index = new Map<string, number>();
  readonly names: string[];
  private kind: 'int' | 'string' | null;
  private maxId = -1;
  private row: Int32Array = new Int32Array(64);

  constructor(
    private readonly file: string,
    train: LabelMap | null,
  ) {
    this.names = train?.names ? train.names.slice() : [];
    for (let i = 0; i < this.names.length; i++) this.index.set(this.names[i], i);
    // a training file with no labels at all fixes no kind: the other file may use either
    this.kind = train && train.numLabels > 0 ? train.kind : null;
    this.maxId = (train?.numLabels ?? 0) - 1;
  }

  add(labels: readonly unknown[], line: number): void {
    if (labels.length > this.row.length) this.row = new Int32Array(labels.length * 2);
    for (let i = 0; i < labels.length; i++) {
      const l = labels[i];
      const k = typeof l === 'string' ? 'string' : 'int';
      if (this.kind === null) this.kind = k;
      else if (k !== this.kind) {
        throw new DataFormatError(this.file, line, `label ${JSON.stringify(l)} is ${k === 'int' ? 'an integer id' : 'a string'} but the training labels are ${this.kind === 'int' ? 'integer ids' : 'strings'}`);
      }
      let id: number;
      if (k === 'int') {
        id = l as number;
      } else {
        const known = this.index.get(l as string);
        if (known !== undefined) {
          id = known;
        } else {
          id = this.names.length;
          this.index.set(l as string, id);
          this.names.push(l as string);
        }
      }
      if (id > this.maxId) this.maxId = id;
      this.row[i] = id;
    }
    const row = this.row.subarray(0, labels.length);
    row.sort();
    for (let i = 1; i < row.length; i++) {
      if (row[i] === row[i - 1]) {
        const name = this.kind === 'string' ? JSON.stringify(this.names[row[i]]) : String(row[i]);
        throw new DataFormatError(this.file, line, `duplicate label ${name}`);
      }
    }
    for (let i = 0; i < row.length; i++) this.builder.push(row[i]);
    this.builder.endRow();
  }

  get numLabels(): number {
    return this.maxId + 1;
  }

  labelMap(): LabelMap {
    const kind = this.kind ?? 'int';
    return kind === 'string' ? { kind, numLabels: this.names.length, names: this.names.slice() } : { kind, numLabels: this.numLabels };
  }
}

/** Reads the training file: fits the featurizer and the label map on it. */
export async function readJsonlTrain(
  path: string,
  opts: FeaturizerOptions = {},
): Promise<{ dataset: Dataset; featurizer: Featurizer; labelMap: LabelMap }> {
  const fitter = new FeaturizerFitter(opts);
  const labels = new LabelAssigner(path, null);
  await readJsonlRecords(path, (text, ls, line) => {
    labels.add(ls, line);
    fitter.add(text);
  });
  const { featurizer, features } = fitter.finish();
  const labelMap = labels.labelMap();
  const dataset: Dataset = { features, labels: labels.builder.build(labelMap.numLabels), source: path };
  if (labelMap.kind === 'string') dataset.labelNames = labelMap.names;
  return { dataset, featurizer, labelMap };
}

/**
 * The training file's texts and label map without its features: what a text teacher needs of it
 * (its rows' texts, its labels' names), for a fraction of readJsonlTrain's time.
 */
export async function readJsonlTexts(path: string): Promise<{ texts: string[]; labelMap: LabelMap }> {
  const labels = new LabelAssigner(path, null);
  const texts: string[] = [];
  await readJsonlRecords(path, (text, ls, line) => {
    labels.add(ls, line);
    texts.push(text);
  });
  return { texts, labelMap: labels.labelMap() };
}

/**
 * Reads a file through a fitted featurizer and training label map. Unknown labels widen
 * labels.cols past labelMap.numLabels (and extend labelNames for string labels).
 */
export async function readJsonlWithFeaturizer(path: string, featurizer: Featurizer, labelMap: LabelMap): Promise<Dataset> {
  const features = new CsrBuilder(true, 1024, 1 << 16);
  const labels = new LabelAssigner(path, labelMap);
  await readJsonlRecords(path, (text, ls, line) => {
    labels.add(ls, line);
    featurizer.appendRow(text, features);
  });
  const cols = Math.max(labels.numLabels, labelMap.kind === 'string' ? labels.names.length : 0, labelMap.numLabels);
  const dataset: Dataset = { features: features.build(featurizer.numFeatures), labels: labels.builder.build(cols), source: path };
  if (labelMap.kind === 'string' && labels.names.length > 0) dataset.labelNames = labels.names.slice();
  return dataset;
}
