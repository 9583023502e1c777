import type { MetricReport } from '../core/model/metrics.js';

const SHOWN = ['p@1', 'p@3', 'p@5', 'ndcg@1', 'ndcg@3', 'ndcg@5', 'psp@1', 'psp@3', 'psp@5', 'r@10', 'r@100'];

/** Metric rows side by side: one column per named report. */
export function metricTable(columns: Record<string, MetricReport | undefined>): string {
  const names = Object.keys(columns).filter((n) => columns[n]);
  const lines = [['metric', ...names].map((s) => s.padEnd(10)).join(' ')];
  for (const key of SHOWN) {
    lines.push([key.padEnd(10), ...names.map((n) => (columns[n]![key] !== undefined ? (100 * columns[n]![key]).toFixed(2).padEnd(10) : '-'.padEnd(10)))].join(' '));
  }
  return lines.join('\n') + '\n(percent)';
}

/** Exactly one JSON object on stdout. */
export function printJson(obj: unknown): void {
  process.stdout.write(JSON.stringify(obj) + '\n');
}
