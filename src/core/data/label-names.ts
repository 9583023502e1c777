/**
 * A label-names file: one name per line, line i naming label id i-1 (XC data has numeric label
 * ids only). Names are what query answers show and how a teacher fitted on one dataset is matched
 * to another, so each must be non-empty and unique, and there must be exactly one per label.
 */
import { DataFormatError } from '../util/errors.js';
import { forEachLine } from '../util/line-reader.js';

/** Longest name accepted, in bytes. */
export const MAX_LABEL_NAME_BYTES = 1024;

/** Reads and checks the names of `labels` labels; errors name the file and line. */
export async function readLabelNames(path: string, labels: number): Promise<string[]> {
  const names: string[] = [];
  const seen = new Map<string, number>();
  await forEachLine(
    path,
    (buf, start, end, line) => {
      if (line > labels) throw new DataFormatError(path, line, `more names than the ${labels} labels the training file declares`);
      const name = buf.toString('utf8', start, end).trim();
      if (!name) throw new DataFormatError(path, line, 'empty label name');
      const first = seen.get(name);
      if (first !== undefined) throw new DataFormatError(path, line, `label name ${JSON.stringify(name)} repeats line ${first}`);
      seen.set(name, line);
      names.push(name);
    },
    MAX_LABEL_NAME_BYTES,
  );
  if (names.length < labels) throw new DataFormatError(path, names.length + 1, `${names.length} names for the ${labels} labels the training file declares: one name per label, line i naming label i-1`);
  return names;
}

/** The file's text for `names`. */
export function labelNamesText(names: readonly string[]): string {
  return names.length ? names.join('\n') + '\n' : '';
}

/** Whether `names` survive a names file unchanged: one line each, non-blank, unique once trimmed. */
export function fitsNamesFile(names: readonly string[]): boolean {
  const seen = new Set<string>();
  for (const n of names) {
    const t = n.trim();
    if (!t || t !== n || /[\r\n]/.test(n) || Buffer.byteLength(n) > MAX_LABEL_NAME_BYTES || seen.has(t)) return false;
    seen.add(t);
  }
  return true;
}
