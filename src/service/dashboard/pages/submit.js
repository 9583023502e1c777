// Submit a training job: dataset, optional teacher, and the common settings, each showing its
// default and range from GET /v1/jobs/params (the server's own schema). Only settings the user
// changed are sent; the server fills in the rest.
import { api } from '../api.js';
import { errorBox, h, short } from '../dom.js';

const COMMON = ['epochs', 'dim', 'lr', 'alpha', 'temperature', 'hardNegatives', 'randomNegatives', 'inBatchNegatives', 'batchSize', 'poolSize', 'remineEvery', 'seed', 'auto'];

export async function submitPage(main) {
  const [datasets, teachers, schema] = await Promise.all([api('GET', '/datasets?limit=1000'), api('GET', '/teachers?limit=1000'), api('GET', '/jobs/params')]);
  const dataset = h('select', { name: 'datasetId', id: 'dataset', required: true }, datasets.datasets.map((d) => h('option', { value: d.id }, `${d.name} (${d.stats.points} points, ${d.stats.labels} labels) ${short(d.id)}`)));
  const teacher = h('select', { name: 'teacherId', id: 'teacher' }, h('option', { value: '' }, 'none (negative sampling only)'), teachers.teachers.map((t) => h('option', { value: t.id }, `${t.name} (${t.kind}) ${short(t.id)}`)));
  const inputs = COMMON.filter((name) => schema.properties?.[name]).map((name) => settingInput(name, schema.properties[name]));
  const message = h('div');
  const form = h(
    'form',
    { class: 'settings', id: 'submit-form', onsubmit: (e) => { e.preventDefault(); submit(); } },
    h('label', {}, 'dataset', dataset, h('span', { class: 'help' }, datasets.datasets.length ? '' : 'upload one first (POST /v1/datasets)')),
    h('label', {}, 'teacher', teacher, h('span', { class: 'help' }, 'distil this ONNX teacher into the student')),
    h('h3', {}, 'Settings (empty = default)'),
    inputs.map((i) => i.label),
    h('p', {}, h('button', { type: 'submit', id: 'submit' }, 'Submit job')),
    message,
  );
  main.append(h('h2', {}, 'Submit a training job'), form);

  async function submit() {
    const params = {};
    try {
      for (const i of inputs) {
        const v = i.value();
        if (v !== undefined) params[i.name] = v;
      }
      const body = { datasetId: dataset.value, ...(teacher.value ? { teacherId: teacher.value } : {}), ...(Object.keys(params).length ? { params } : {}) };
      const job = await api('POST', '/jobs', body);
      location.hash = `#/jobs/${job.id}`;
    } catch (e) {
      message.replaceChildren(errorBox(e));
    }
  }
}

/** An input for one property of the params schema: number or boolean, default shown. */
function settingInput(name, prop) {
  const hasDefault = prop.default !== undefined;
  const range = [prop.minimum ?? prop.exclusiveMinimum, prop.maximum].every((x) => x !== undefined) ? ` [${prop.minimum ?? `>${prop.exclusiveMinimum}`}, ${prop.maximum}]` : '';
  const help = h('span', { class: 'help' }, `${hasDefault ? `default ${prop.default}${range}. ` : ''}${prop.description ?? ''}`);
  if (prop.type === 'boolean') {
    const select = h('select', { name }, h('option', { value: '' }, hasDefault ? `default (${prop.default})` : 'default'), h('option', { value: 'true' }, 'true'), h('option', { value: 'false' }, 'false'));
    return { name, label: h('label', {}, name, select, help), value: () => (select.value === '' ? undefined : select.value === 'true') };
  }
  const input = h('input', { name, type: 'number', step: prop.type === 'integer' ? '1' : 'any', placeholder: hasDefault ? String(prop.default) : '' });
  return {
    name,
    label: h('label', {}, name, input, help),
    value: () => {
      if (input.value.trim() === '') return undefined;
      const v = Number(input.value);
      if (!Number.isFinite(v)) throw new Error(`${name}: not a number`);
      return v;
    },
  };
}
