// The dashboard's router: #/jobs, #/jobs/<id>, #/submit, #/datasets[/<id>], #/teachers, #/models[/<id>].
import { apiKey } from './api.js';
import { errorBox } from './dom.js';
import { datasetPage, datasetsPage } from './pages/datasets.js';
import { jobPage } from './pages/job.js';
import { jobsPage } from './pages/jobs.js';
import { modelPage, modelsPage } from './pages/models.js';
import { submitPage } from './pages/submit.js';
import { teachersPage } from './pages/teachers.js';

const routes = [
  [/^#\/jobs\/([0-9a-f-]{36})$/, jobPage],
  [/^#\/submit$/, submitPage],
  [/^#\/datasets\/([0-9a-f-]{36})$/, datasetPage],
  [/^#\/datasets$/, datasetsPage],
  [/^#\/teachers$/, teachersPage],
  [/^#\/models\/([0-9a-f-]{36})$/, modelPage],
  [/^#\/models$/, modelsPage],
  [/^(#\/jobs)?$/, jobsPage],
];

/** What the page left running (event streams, timers), stopped when the user leaves it. */
let cleanup = null;

async function render() {
  cleanup?.();
  cleanup = null;
  const main = document.getElementById('main');
  main.replaceChildren();
  const hash = location.hash.split('?')[0];
  for (const [pattern, page] of routes) {
    const m = pattern.exec(hash);
    if (!m) continue;
    try {
      cleanup = (await page(main, ...m.slice(1))) ?? null;
    } catch (e) {
      main.append(errorBox(e));
    }
    return;
  }
  main.append(errorBox(`no page at ${hash}`));
}

const keyInput = document.getElementById('api-key');
keyInput.value = apiKey.get();
document.getElementById('key-form').addEventListener('submit', (e) => {
  e.preventDefault();
  apiKey.set(keyInput.value.trim());
  render();
});
window.addEventListener('hashchange', render);
render();
