/** Sparse query vectors typed by a user: "3:1 17:0.5" (id:value, separated by spaces or commas). */
import { UsageError } from '../util/errors.js';
import { sortPairs } from '../util/sort-pairs.js';

const ID = /^\d+$/;
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const NON_FINITE = /^[+-]?(inf|infinity|nan)$/i;

/** Parses and sorts by index. Every bad token is a UsageError naming the token and the reason. */
export function parseFeatureString(s: string, numFeatures?: number): { indices: Int32Array; values: Float32Array } {
  const tokens = s.split(/[\s,]+/).filter((t) => t.length > 0);
  if (tokens.length === 0) throw new UsageError('empty feature string: expected id:value pairs such as "3:1 17:0.5"');
  const indices = new Int32Array(tokens.length);
  const values = new Float32Array(tokens.length);
  const seen = new Map<number, string>(); // id -> token, to name both sides of a duplicate
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    const colon = t.indexOf(':');
    if (colon < 0) throw new UsageError(`feature "${t}": expected id:value`);
    const idText = t.slice(0, colon);
    const valueText = t.slice(colon + 1);
    if (idText.length === 0) throw new UsageError(`feature "${t}": missing id before ':'`);
    if (valueText.length === 0) throw new UsageError(`feature "${t}": missing value after ':'`);
    if (idText.startsWith('-') && ID.test(idText.slice(1))) throw new UsageError(`feature "${t}": negative id`);
    if (!ID.test(idText)) throw new UsageError(`feature "${t}": id "${idText}" is not a non-negative integer`);
    const id = Number(idText);
    if (numFeatures !== undefined ? id >= numFeatures : id > 2147483647) {
      const range = numFeatures !== undefined ? `[0, ${numFeatures})` : '[0, 2^31)';
      throw new UsageError(`feature "${t}": id ${idText} out of range ${range}`);
    }
    if (NON_FINITE.test(valueText)) throw new UsageError(`feature "${t}": value "${valueText}" is not finite`);
    if (!NUMBER.test(valueText)) throw new UsageError(`feature "${t}": value "${valueText}" is not a number`);
    const v = Math.fround(Number(valueText));
    if (!Number.isFinite(v)) throw new UsageError(`feature "${t}": value "${valueText}" is not finite (outside the float32 range)`);
    const before = seen.get(id);
    if (before !== undefined) throw new UsageError(`feature "${t}": id ${id} appears twice (also "${before}")`);
    seen.set(id, t);
    indices[i] = id;
    values[i] = v;
  }
  sortPairs(indices, values, 0, indices.length);
  return { indices, values };
}
