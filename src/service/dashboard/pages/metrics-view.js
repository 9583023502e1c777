// Evaluation metrics: student and teacher side by side, and the P@k / nDCG@k plot.
import { linePlot } from '../charts.js';
import { h, pct, table } from '../dom.js';

const KEYS = ['p@1', 'p@3', 'p@5', 'ndcg@1', 'ndcg@3', 'ndcg@5', 'psp@1', 'psp@3', 'psp@5', 'r@1', 'r@5', 'r@10', 'r@100'];

/** A table of metric (percent) × model, for the columns given ({name: metrics | null}). */
export function metricsTable(columns) {
  const names = Object.keys(columns).filter((n) => columns[n]);
  if (!names.length) return h('p', { class: 'muted' }, 'no evaluation yet');
  const keys = KEYS.filter((k) => names.some((n) => typeof columns[n][k] === 'number'));
  return table(
    ['metric (%)', ...names],
    keys.map((k) => h('tr', {}, h('td', {}, k), names.map((n) => h('td', { class: 'num' }, pct(columns[n][k]))))),
  );
}

/** P@k and nDCG@k over k = 1, 3, 5 for each column that has them. */
export function atKPlot(columns) {
  const names = Object.keys(columns).filter((n) => columns[n] && typeof columns[n]['p@1'] === 'number');
  const series = names.flatMap((n) => [`${n} P@k`, `${n} nDCG@k`]);
  const plot = linePlot({ title: 'P@k and nDCG@k on the test split (%)', xLabel: 'k', yLabel: '%', names: series, width: 420, integerX: true });
  plot.el.id = 'pk-plot';
  const ks = [1, 3, 5];
  plot.update(
    ks,
    names.flatMap((n) => [ks.map((k) => 100 * columns[n][`p@${k}`]), ks.map((k) => 100 * (columns[n][`ndcg@${k}`] ?? NaN))]),
  );
  return plot.el;
}
