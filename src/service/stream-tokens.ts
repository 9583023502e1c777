/**
 * Short-lived signed tokens that open one job's event stream. A browser's EventSource cannot send
 * an Authorization header, and an API key in a URL would end up in logs and histories; so a client
 * holding a key asks POST /v1/jobs/:id/events/token for a token (HMAC-SHA256 over the job id, the
 * key's id and an expiry, with a secret of this process) and passes it as `?token=`. A token opens
 * only that job's stream, only until it expires, and only in the process that issued it (one API
 * process per deployment; the secret is not stored). Request logs show it as [REDACTED].
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** How long a token opens streams. @defaultValue 60000 */
export const STREAM_TOKEN_TTL_MS = 60_000;

/** Base64url of the claims, a dot, base64url of their HMAC. */
export const STREAM_TOKEN_PATTERN = '^[A-Za-z0-9_-]{1,400}\\.[A-Za-z0-9_-]{43}$';

interface Claims {
  /** job id */
  j: string;
  /** the issuing key's id (ApiKeys), null when keys are off */
  k: string | null;
  /** expiry, ms since the epoch */
  e: number;
}

export type TokenCheck = { ok: true; keyId: string | null } | { ok: false; reason: 'malformed' | 'tampered' | 'expired' | 'for another job' };

export class StreamTokens {
  constructor(
    private readonly secret: Buffer = randomBytes(32),
    private readonly ttlMs: number = STREAM_TOKEN_TTL_MS,
  ) {}

  issue(jobId: string, keyId: string | null, now = Date.now()): { token: string; expiresAt: string } {
    const claims: Claims = { j: jobId, k: keyId, e: now + this.ttlMs };
    const body = Buffer.from(JSON.stringify(claims)).toString('base64url');
    return { token: `${body}.${this.sign(body)}`, expiresAt: new Date(claims.e).toISOString() };
  }

  check(token: string, jobId: string, now = Date.now()): TokenCheck {
    const dot = token.indexOf('.');
    if (dot <= 0) return { ok: false, reason: 'malformed' };
    const body = token.slice(0, dot);
    const given = Buffer.from(token.slice(dot + 1), 'base64url');
    const expected = Buffer.from(this.sign(body), 'base64url');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, reason: 'tampered' };
    let claims: Claims;
    try {
      claims = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as Claims;
    } catch {
      return { ok: false, reason: 'malformed' };
    }
    if (claims.j !== jobId) return { ok: false, reason: 'for another job' };
    if (!(now < claims.e)) return { ok: false, reason: 'expired' };
    return { ok: true, keyId: claims.k };
  }

  private sign(body: string): string {
    return createHmac('sha256', this.secret).update(body).digest('base64url');
  }
}

/** A URL with any `token` query parameter's value replaced, for logs. */
export function redactTokenInUrl(url: string): string {
  return url.replace(/([?&]token=)[^&#]*/g, '$1[REDACTED]');
}
