import { api } from '../api.js';
import { linePlot } from '../charts.js';
import { h, link, num, short, table, when } from '../dom.js';
import { pagedList } from './pager.js';

const STATS = ['points', 'features', 'labels', 'labelsPerPoint', 'pointsPerLabel', 'nnzPerPoint'];

export async function datasetsPage(main) {
  const list = h('div', { id: 'datasets-list' });
  main.append(h('h2', {}, 'Datasets'), list);
  await pagedList(list, {
    path: '/datasets',
    key: 'datasets',
    show: (items) =>
      table(
        ['dataset', 'name', 'format', ...STATS, 'test points', 'created'],
        items.map((d) =>
          h('tr', {}, h('td', {}, link(`#/datasets/${d.id}`, short(d.id))), h('td', {}, d.name), h('td', {}, d.format), STATS.map((s) => h('td', { class: 'num' }, num(d.stats[s], 2))), h('td', { class: 'num' }, d.testStats ? num(d.testStats.points) : '–'), h('td', {}, when(d.createdAt))),
        ),
      ),
  });
}

export async function datasetPage(main, id) {
  const d = await api('GET', `/datasets/${id}`);
  const stats = table(
    ['', 'train', 'test'],
    STATS.map((s) => h('tr', {}, h('td', {}, s), h('td', { class: 'num' }, num(d.stats[s], 2)), h('td', { class: 'num' }, d.testStats ? num(d.testStats[s], 2) : '–'))),
  );
  const freq = d.stats.labelFrequency;
  let plot = h('p', { class: 'muted' }, 'no label-frequency profile (uploaded before it was recorded)');
  if (freq?.length) {
    const p = linePlot({ title: 'training points per label, by rank (log-log)', xLabel: 'label rank', yLabel: 'points', names: ['points'], logX: true, logY: true });
    const shown = freq.filter((f) => f.count > 0); // log axes
    p.update(shown.map((f) => f.rank), [shown.map((f) => f.count)]);
    p.el.id = 'label-frequency-plot';
    plot = p.el;
  }
  main.append(h('h2', {}, `Dataset ${d.name}`), h('p', {}, `${d.format} · ${short(d.id)} · uploaded ${when(d.createdAt)}`), h('div', { class: 'row' }, stats, plot));
}
