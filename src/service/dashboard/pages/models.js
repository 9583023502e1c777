import { api, download } from '../api.js';
import { errorBox, h, link, num, short, table, when } from '../dom.js';
import { atKPlot, metricsTable } from './metrics-view.js';
import { pagedList } from './pager.js';

export async function modelsPage(main) {
  const list = h('div', { id: 'models-list' });
  main.append(h('h2', {}, 'Models'), list);
  await pagedList(list, {
    path: '/models',
    key: 'models',
    show: (items) =>
      table(
        ['model', 'job', 'dataset', 'P@1 %', 'P@5 %', 'teacher P@1 %', 'created'],
        items.map((m) =>
          h(
            'tr',
            {},
            h('td', {}, link(`#/models/${m.id}`, short(m.id))),
            h('td', {}, link(`#/jobs/${m.jobId}`, short(m.jobId))),
            h('td', {}, link(`#/datasets/${m.datasetId}`, short(m.datasetId))),
            h('td', { class: 'num' }, num(100 * (m.metrics?.['p@1'] ?? NaN), 2)),
            h('td', { class: 'num' }, num(100 * (m.metrics?.['p@5'] ?? NaN), 2)),
            h('td', { class: 'num' }, num(100 * (m.teacherMetrics?.['p@1'] ?? NaN), 2)),
            h('td', {}, when(m.createdAt)),
          ),
        ),
      ),
  });
}

export async function modelPage(main, id) {
  const m = await api('GET', `/models/${id}`);
  // a model of a JSONL dataset reads text, of an XC one sparse features; when its dataset was
  // deleted, the query itself tells ("id:value ..." is features)
  const dataset = await api('GET', `/datasets/${m.datasetId}`).catch(() => null);
  const columns = { student: m.metrics, teacher: m.teacherMetrics };
  const isText = dataset?.format === 'jsonl';
  const query = h('textarea', { id: 'query', placeholder: isText ? 'text of a document' : 'sparse features: "3:1 17:0.5 ..." (feature id:value)' });
  const k = h('input', { id: 'k', type: 'number', min: 1, max: 1000, value: 5 });
  const answer = h('div', { id: 'answer' });
  const form = h('form', { id: 'query-form', onsubmit: (e) => { e.preventDefault(); ask(); } }, query, h('div', {}, h('label', {}, 'k ', k), ' ', h('button', { type: 'submit' }, 'Query')));
  main.append(
    h('h2', {}, `Model ${short(m.id)}`),
    h('p', {}, 'Trained by job ', link(`#/jobs/${m.jobId}`, short(m.jobId)), ' on dataset ', link(`#/datasets/${m.datasetId}`, short(m.datasetId)), ` · ${dataset ? (isText ? 'text' : 'sparse features') : 'unknown'} input · ${when(m.createdAt)}`),
    h('div', { class: 'row' }, metricsTable(columns), m.metrics ? atKPlot(columns) : ''),
    h('h3', {}, 'Query'),
    form,
    answer,
    h('h3', {}, 'Files'),
    h('ul', {}, m.files.map((f) => h('li', {}, h('a', { href: '#', onclick: (e) => { e.preventDefault(); download(`/models/${id}/files/${f}`, f).catch((err) => alert(err.message)); } }, f)))),
    h('h3', {}, 'Configuration'),
    h('pre', {}, JSON.stringify(m.config, null, 2)),
  );

  async function ask() {
    try {
      const text = dataset ? isText : !/^\s*(\d+:\S+\s*)+$/.test(query.value);
      const q = text ? { text: query.value } : { features: parseFeatures(query.value) };
      const { results } = await api('POST', `/models/${id}/query`, { queries: [q], k: Number(k.value) });
      answer.replaceChildren(table(['rank', 'label', 'name', 'score'], results[0].map((r, i) => h('tr', {}, h('td', { class: 'num' }, i + 1), h('td', { class: 'num' }, r.label), h('td', {}, r.name), h('td', { class: 'num' }, num(r.score))))));
    } catch (e) {
      answer.replaceChildren(errorBox(e));
    }
  }
}

/** "3:1 17:0.5" → {"3": 1, "17": 0.5}; a bad token is named. */
function parseFeatures(text) {
  const features = {};
  for (const token of text.trim().split(/\s+/).filter(Boolean)) {
    const m = /^(\d+):(-?[\d.eE+-]+)$/.exec(token);
    if (!m || !Number.isFinite(Number(m[2]))) throw new Error(`"${token}" is not feature:value`);
    features[m[1]] = Number(m[2]);
  }
  return features;
}
