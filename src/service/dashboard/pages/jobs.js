import { h, link, short, table, when, duration } from '../dom.js';
import { pagedList } from './pager.js';

const STATUSES = ['', 'queued', 'running', 'completed', 'failed', 'cancelled'];

export async function jobsPage(main) {
  const list = h('div', { id: 'jobs-list' });
  const status = h('select', { id: 'status-filter', onchange: () => load() }, STATUSES.map((s) => h('option', { value: s }, s || 'any status')));
  const load = () => pagedList(list, { path: `/jobs${status.value ? `?status=${status.value}` : ''}`, key: 'jobs', show: jobsTable });
  main.append(h('h2', {}, 'Jobs'), h('label', {}, 'Status ', status), ' ', h('button', { type: 'button', onclick: () => load() }, 'Refresh'), list);
  await load();
  const timer = setInterval(() => document.visibilityState === 'visible' && load().catch(() => {}), 10000);
  return () => clearInterval(timer);
}

function jobsTable(jobs) {
  return table(
    ['job', 'kind', 'status', 'stage', 'progress', 'ETA', 'dataset', 'created'],
    jobs.map((j) =>
      h(
        'tr',
        {},
        h('td', {}, link(`#/jobs/${j.id}`, short(j.id))),
        h('td', {}, j.kind),
        h('td', { class: `status-${j.status}` }, j.status + (j.stalled ? ' (stalled)' : '')),
        h('td', {}, j.stage ?? '–'),
        h('td', { class: 'num' }, `${Math.round(100 * j.progress)}%`),
        h('td', { class: 'num' }, j.status === 'running' ? duration(j.etaSeconds) : '–'),
        h('td', {}, link(`#/datasets/${j.datasetId}`, short(j.datasetId))),
        h('td', {}, when(j.createdAt)),
      ),
    ),
  );
}

