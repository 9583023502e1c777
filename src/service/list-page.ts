/**
 * Cursor pagination of the lists (datasets, teachers, models, jobs): keyset pages in the lists'
 * order, newest first by (createdAt, id), so rows added or deleted between pages neither repeat
 * nor skip the rows already in order. The cursor is opaque to clients: base64url of
 * `[createdAt in ms, id]` of the last row of the page.
 */
import { ValidationError } from './errors.js';
import type { ListCursor, ListOptions } from '../infra/records.js';

export interface Page<T> {
  items: T[];
  /** The cursor of the next page; null on the last page. */
  nextCursor: string | null;
}

export function encodeCursor(c: ListCursor): string {
  return Buffer.from(JSON.stringify([c.createdAt.getTime(), c.id])).toString('base64url');
}

/** Throws a 400 (naming querystring.cursor) for anything this server did not issue. */
export function decodeCursor(cursor: string): ListCursor {
  const bad = new ValidationError('querystring.cursor', 'is not a cursor from a previous page of this list (pass nextCursor unchanged)');
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw bad;
  }
  if (!Array.isArray(parsed) || parsed.length !== 2) throw bad;
  const [ms, id] = parsed as unknown[];
  if (typeof ms !== 'number' || !Number.isSafeInteger(ms) || ms < 0 || typeof id !== 'string' || id.length === 0 || id.length > 64) throw bad;
  return { createdAt: new Date(ms), id };
}

/**
 * One page of `limit` rows after `cursor`: asks `fetch` for one row more than the page holds, so
 * the last page is known without a second query.
 */
export async function listPage<T extends ListCursor>(fetch: (opts: ListOptions) => Promise<T[]>, limit: number, cursor: string | undefined): Promise<Page<T>> {
  const after = cursor === undefined ? undefined : decodeCursor(cursor);
  const rows = await fetch({ limit: limit + 1, ...(after ? { after } : {}) });
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  return { items, nextCursor: rows.length > limit && last ? encodeCursor(last) : null };
}
