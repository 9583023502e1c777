import { h, num, pct, short, table, when } from '../dom.js';
import { pagedList } from './pager.js';

export async function teachersPage(main) {
  const list = h('div', { id: 'teachers-list' });
  main.append(h('h2', {}, 'Teachers'), list);
  await pagedList(list, {
    path: '/teachers',
    key: 'teachers',
    show: (items) =>
      table(
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
      ),
  });
}
