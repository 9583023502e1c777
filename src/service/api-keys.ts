/**
 * The configured API keys and who a request's Authorization header says it is. Keys are held
 * only as SHA-256 digests and compared with timingSafeEqual (equal lengths, constant time)
 * against every configured key without stopping early. A key is known afterwards by `id`, a
 * prefix of its digest: safe to use as a rate-limit bucket or in a log line, never the key.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

/** `read`: GET routes and top-k queries. `write`: everything. */
export type KeyAccess = 'read' | 'write';

export type Caller =
  | { kind: 'missing' }
  | { kind: 'malformed' }
  | { kind: 'invalid' }
  | { kind: 'valid'; id: string; access: KeyAccess };

interface KeyEntry {
  digest: Buffer;
  id: string;
  access: KeyAccess;
}

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();
const BEARER = /^Bearer +(\S+) *$/i;

/** "key", "key:write" → write access; "key:read" → read-only. */
function parseEntry(entry: string): KeyEntry {
  const m = /^(.*):(read|write)$/.exec(entry);
  const key = m ? m[1] : entry;
  if (key === '' || /\s/.test(key)) throw new Error(`API_KEYS: an entry has an empty key or whitespace in it (entries are "key", "key:read" or "key:write")`);
  const d = digest(key);
  return { digest: d, id: d.toString('hex').slice(0, 16), access: m ? (m[2] as KeyAccess) : 'write' };
}

export class ApiKeys {
  private readonly entries: KeyEntry[];

  constructor(entries: readonly string[]) {
    this.entries = entries.map(parseEntry);
  }

  /** False when no key is configured: the API is open. */
  get enabled(): boolean {
    return this.entries.length > 0;
  }

  identify(authorization: string | undefined): Caller {
    if (authorization === undefined) return { kind: 'missing' };
    const match = BEARER.exec(authorization);
    if (!match) return { kind: 'malformed' };
    const given = digest(match[1]);
    let found: KeyEntry | null = null;
    for (const e of this.entries) if (timingSafeEqual(given, e.digest) && found === null) found = e;
    return found ? { kind: 'valid', id: found.id, access: found.access } : { kind: 'invalid' };
  }
}
