// Cursor pagination over a /v1 list route: "Newer" goes back through the cursors seen, "Older"
// follows nextCursor.
import { api } from '../api.js';
import { h } from '../dom.js';

/**
 * Renders into `el` the page of `path` (a list route with its filters), `limit` items at a time;
 * `key` is the list's field in the response, `show(items)` builds the table.
 */
export function pagedList(el, { path, key, limit = 20, show }) {
  const cursors = [null];
  async function load() {
    const cursor = cursors[cursors.length - 1];
    const sep = path.includes('?') ? '&' : '?';
    const page = await api('GET', `${path}${sep}limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    const newer = h('button', { type: 'button', disabled: cursors.length === 1, onclick: () => { cursors.pop(); load(); } }, '← Newer');
    const older = h('button', { type: 'button', class: 'older', disabled: !page.nextCursor, onclick: () => { cursors.push(page.nextCursor); load(); } }, 'Older →');
    el.replaceChildren(page[key].length ? show(page[key]) : h('p', { class: 'muted' }, 'nothing here yet'), h('div', {}, newer, ' ', h('span', { class: 'muted' }, `page ${cursors.length}`), ' ', older));
  }
  return load();
}
