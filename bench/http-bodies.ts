/**
 * Query request bodies made of real test points: the sparse features of an XC test file's rows
 * (`labels f:v f:v`), sent as `{"queries": [{"features": {...}}], "k": K}`.
 */
import { readFile } from 'node:fs/promises';

export type Features = Record<string, number>;

/** Sparse features of the first `n` test points that have any, in file order. */
export async function readTestFeatures(path: string, n: number): Promise<Features[]> {
  const lines = (await readFile(path, 'utf8')).split('\n').slice(1);
  const out: Features[] = [];
  for (const line of lines) {
    const pairs = line
      .trim()
      .split(/\s+/)
      .filter((t) => t.includes(':'))
      .map((t) => t.split(':'));
    if (pairs.length) out.push(Object.fromEntries(pairs.map(([f, v]) => [f, Number(v)])));
    if (out.length === n) break;
  }
  if (out.length < n) throw new Error(`${path}: only ${out.length} test points with features, need ${n}`);
  return out;
}

/** `count` request bodies of `perRequest` queries each, taking the points round-robin. */
export function queryBodies(points: Features[], perRequest: number, k: number, count: number): string[] {
  return Array.from({ length: count }, (_, i) =>
    JSON.stringify({ queries: Array.from({ length: perRequest }, (_, j) => ({ features: points[(i * perRequest + j) % points.length] })), k }),
  );
}
