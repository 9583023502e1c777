// One job: status, live progress and ETA, stage timeline, per-epoch loss plot, evaluation,
// config, error; cancel. Live from the job's event stream (events.js).
import { api } from '../api.js';
import { linePlot } from '../charts.js';
import { duration, errorBox, h, link, short, when } from '../dom.js';
import { followJob } from '../events.js';
import { atKPlot, metricsTable } from './metrics-view.js';

const FINAL = ['completed', 'failed', 'cancelled'];

export async function jobPage(main, id) {
  let job = await api('GET', `/jobs/${id}`);
  const history = await api('GET', `/jobs/${id}/metrics`);

  const header = h('div', { class: 'card', id: 'job-header' });
  const timeline = h('ol', { class: 'timeline', id: 'timeline' });
  const evaluation = h('div', { class: 'row', id: 'evaluation' });
  const log = h('pre', { id: 'job-log' });
  const lossPlot = linePlot({ title: 'training loss per epoch', xLabel: 'epoch', yLabel: 'loss', names: ['loss', 'CE', 'KL'], integerX: true });
  lossPlot.el.id = 'loss-plot';
  const epochs = new Map();
  const stages = [];
  const logLines = [];

  main.append(
    h('h2', {}, `${job.kind === 'teacher-fit' ? 'Teacher fit' : 'Training job'} ${short(id)}`),
    header,
    h('div', { class: 'row' }, h('div', { class: 'card' }, h('h3', {}, 'Stages'), timeline), lossPlot.el),
    h('h3', {}, 'Evaluation'),
    evaluation,
    h('h3', {}, 'Log'),
    log,
    h('h3', {}, 'Configuration'),
    h('pre', { id: 'job-config' }, JSON.stringify(job.params, null, 2)),
  );

  function drawHeader() {
    const active = !FINAL.includes(job.status);
    const cancel = h('button', { type: 'button', id: 'cancel', disabled: !active || job.cancelRequested, onclick: onCancel }, job.cancelRequested && active ? 'cancelling…' : 'Cancel');
    header.replaceChildren(
      h('p', {}, 'Status: ', h('strong', { id: 'job-status', class: `status-${job.status}` }, job.status), job.stalled ? ' (stalled: its worker is silent)' : '', job.stage ? ` · stage ${job.stage}` : '', ` · attempts ${job.attempts}`, ' ', active ? cancel : ''),
      h('p', {}, h('progress', { id: 'job-progress', max: 1, value: job.progress }), ` ${Math.round(100 * job.progress)}%`, job.examplesPerSecond ? ` · ${Math.round(job.examplesPerSecond)} examples/s` : '', active ? ` · ETA ${duration(job.etaSeconds)}` : ''),
      job.status === 'failed' ? errorBox(`failed in stage ${job.stage ?? '(none)'}: ${job.error}`) : '',
      h(
        'p',
        {},
        'Dataset ',
        link(`#/datasets/${job.datasetId}`, short(job.datasetId)),
        job.teacherId ? [' · teacher ', short(job.teacherId)] : '',
        job.modelId ? [' · model ', link(`#/models/${job.modelId}`, short(job.modelId))] : '',
        job.resultTeacherId ? [' · fitted teacher ', link('#/teachers', short(job.resultTeacherId))] : '',
        job.retryOf ? [' · retry of ', link(`#/jobs/${job.retryOf}`, short(job.retryOf))] : '',
        ` · created ${when(job.createdAt)}`,
        job.finishedAt ? ` · finished ${when(job.finishedAt)}` : '',
      ),
    );
  }

  async function onCancel() {
    try {
      job = await api('POST', `/jobs/${id}/cancel`);
    } catch (e) {
      header.append(errorBox(e));
    }
    drawHeader();
  }

  function drawTimeline() {
    const end = FINAL.includes(job.status) && job.finishedAt ? Date.parse(job.finishedAt) : null;
    timeline.replaceChildren(
      ...stages.map((s, i) => {
        const next = stages[i + 1]?.at ?? end;
        return h('li', {}, h('strong', {}, s.stage), ` ${new Date(s.at).toLocaleTimeString()}`, next ? ` (${duration((next - s.at) / 1000)})` : ' …', s.detail ? h('div', { class: 'muted' }, s.detail) : '');
      }),
      end ? h('li', {}, h('strong', { class: `status-${job.status}` }, job.status), ` ${new Date(end).toLocaleTimeString()}`) : '',
    );
  }

  function drawEpochs() {
    const rows = [...epochs.values()].sort((a, b) => a.epoch - b.epoch);
    lossPlot.update(rows.map((r) => r.epoch), [rows.map((r) => r.loss), rows.map((r) => r.ce), rows.map((r) => r.kl)]);
  }

  async function drawEvaluation() {
    const student = job.kind === 'train' ? job.metrics : null;
    const teacher = job.kind === 'train' ? (job.metrics?.teacher ?? null) : job.metrics;
    const columns = job.kind === 'train' ? { student, teacher } : { teacher };
    evaluation.replaceChildren(metricsTable(columns), ...(Object.values(columns).some((c) => c) ? [atKPlot(columns)] : []));
  }

  for (const e of history.epochs) epochs.set(e.epoch, e);
  drawHeader();
  drawEpochs();
  drawEvaluation();

  // progress events come every few seconds: the job row (progress, ETA) is re-read on every event, at most twice a second
  let refreshing = null;
  const refresh = () =>
    (refreshing ??= new Promise((r) => setTimeout(r, 500))
      .then(() => api('GET', `/jobs/${id}`))
      .then((j) => {
        job = j;
        drawHeader();
        drawTimeline();
        drawEvaluation();
      })
      .catch(() => {})
      .finally(() => (refreshing = null)));

  return followJob(
    id,
    (type, e) => {
      if (type === 'stage') {
        stages.push({ stage: e.data.stage, detail: e.data.detail, at: Date.parse(e.at) });
        drawTimeline();
      } else if (type === 'epoch') {
        epochs.set(e.data.epoch, e.data);
        drawEpochs();
      } else if (type === 'log') {
        logLines.push(`${new Date(e.at).toLocaleTimeString()} ${e.data.message}`);
        log.textContent = logLines.slice(-200).join('\n');
      } else if (type === 'progress' && typeof e.data.progress === 'number') {
        job = { ...job, progress: e.data.progress, etaSeconds: e.data.etaSeconds ?? job.etaSeconds, examplesPerSecond: e.data.examplesPerSecond ?? job.examplesPerSecond };
        drawHeader();
      }
      refresh();
    },
    () => refresh(),
  );
}
