// A job's Server-Sent Events. With an API key, every connection first gets a short-lived stream
// token (POST /v1/jobs/:id/events/token): EventSource cannot send Authorization, and the key must
// never be put in a URL. On an error the stream is reopened with a fresh token after the last
// event seen, so nothing is missed or repeated.
import { api, apiKey } from './api.js';

const TYPES = ['status', 'stage', 'progress', 'epoch', 'log', 'metrics'];

/** Calls onEvent(type, event) for each event, onEnd() when the job is final. Returns stop(). */
export function followJob(jobId, onEvent, onEnd) {
  let source = null;
  let lastId = 0;
  let stopped = false;
  let retry = null;

  async function open() {
    const params = new URLSearchParams();
    if (lastId) params.set('lastEventId', String(lastId));
    try {
      if (apiKey.get()) params.set('token', (await api('POST', `/jobs/${jobId}/events/token`)).token);
    } catch {
      if (!stopped) retry = setTimeout(open, 3000);
      return;
    }
    if (stopped) return;
    source = new EventSource(`/v1/jobs/${jobId}/events?${params}`);
    for (const type of TYPES)
      source.addEventListener(type, (e) => {
        lastId = Number(e.lastEventId) || lastId;
        onEvent(type, JSON.parse(e.data));
      });
    source.addEventListener('end', () => {
      source.close();
      onEnd?.();
    });
    source.onerror = () => {
      source.close();
      if (!stopped) retry = setTimeout(open, 2000);
    };
  }

  open();
  return () => {
    stopped = true;
    clearTimeout(retry);
    source?.close();
  };
}
