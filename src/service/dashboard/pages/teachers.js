import { linePlot } from '../charts.js';
import { h, num, pct, short, table, when } from '../dom.js';
import { pagedList } from './pager.js';

/**
 * Reliability diagram of a fitted teacher (test split, 15 bins of top-1 confidence): accuracy per
 * bin before and after calibration against the diagonal; empty bins are gaps.
 */
function reliabilityCard(t) {
  const { raw, calibrated } = t.metrics.reliability;
  const mid = raw.map((b) => (b.lower + b.upper) / 2);
  const acc = (bins) => bins.map((b) => (b.count ? b.accuracy : null));
  const plot = linePlot({ title: `${t.name}: reliability (test split)`, xLabel: 'top-1 confidence', yLabel: 'accuracy', names: ['perfectly calibrated', 'raw scores', `after calibration (T = ${num(t.metrics.temperature, 3)})`], width: 420, height: 260 });
  plot.el.classList.add('reliability');
  plot.el.dataset.teacher = t.id;
  plot.update(mid, [mid, acc(raw), acc(calibrated)]);
  return plot.el;
}

export async function teachersPage(main) {
  const list = h('div', { id: 'teachers-list' });
  main.append(h('h2', {}, 'Teachers'), list);
  await pagedList(list, {
    path: '/teachers',
    key: 'teachers',
    show: (items) => {
      const diagrams = items.filter((t) => t.metrics?.reliability).map(reliabilityCard);
      return h('div', {}, teacherTable(items), ...(diagrams.length ? [h('h3', {}, 'Calibration'), h('div', { class: 'row' }, ...diagrams)] : []));
    },
  });
}

/** One row per teacher: kind, size, test metrics, ECE before and after calibration. */
function teacherTable(items) {
  return table(
    ['teacher', 'name', 'kind', 'labels', 'size', 'P@1 %', 'P@5 %', 'nDCG@5 %', 'ECE → after calibration', 'temperature', 'created'],
    items.map((t) => {
      const m = t.metrics ?? {};
      return h(
        'tr',
        {},
        h('td', {}, short(t.id)),
        h('td', {}, t.name),
        h('td', {}, t.kind),
        h('td', { class: 'num' }, num(t.numLabels)),
        h('td', { class: 'num' }, `${(t.sizeBytes / 1e6).toFixed(2)} MB`),
        h('td', { class: 'num' }, pct(m['p@1'])),
        h('td', { class: 'num' }, pct(m['p@5'])),
        h('td', { class: 'num' }, pct(m['ndcg@5'])),
        h('td', { class: 'num' }, typeof m.eceCalibrated === 'number' ? `${num(m.ece, 3)} → ${num(m.eceCalibrated, 3)}` : num(m.ece, 3)),
        h('td', { class: 'num' }, num(m.temperature, 3)),
        h('td', {}, when(t.createdAt)),
      );
    }),
  );
}
