import { Type, type Static, type TSchema } from 'typebox';
import { UsageError } from '../core/util/errors.js';

/** ONNX models are one protobuf message, and protobuf caps a message at 2 GiB − 1 bytes. */
export const ONNX_MAX_BYTES = 2 ** 31 - 1;

/** Job lock of a worker; a dead worker's job is taken over about this long after. */
export const DEFAULT_LOCK_MS = 10_000;

/**
 * Pairs per scoring chunk. About a second of a 256-hidden teacher on one core (STACK.md: 1.6 M
 * pairs/s), so a chunk's start (its thread loads the features and the teacher) stays small.
 */
export const DEFAULT_SCORE_SHARD_PAIRS = 2_000_000;

const positive = (d: number, description: string) => Type.Integer({ minimum: 1, default: d, description });
const nonNegative = (d: number, description: string) => Type.Integer({ minimum: 0, default: d, description });
const optionalPositive = (description: string) => Type.Optional(Type.Integer({ minimum: 1, description }));
/** A comma-separated list; blanks dropped. */
const list = (description: string) => Type.String({ default: '', description, list: true });

/**
 * The service's configuration: every environment variable `serve`, `worker` and `start` read, with
 * its type, range, default and meaning, declared once. The TypeScript type (ServiceEnv), the
 * parsing and its messages (parseServiceEnv), and `distilxr env` (the table users read) derive
 * from it; config.ts turns it into units the code uses (bytes, absolute paths).
 */
export const SERVICE_ENV = Type.Object({
  DATABASE_URL: Type.Optional(Type.String({ description: 'PostgreSQL URL; unset: embedded PGlite under DATA_DIR (one process: `distilxr start` only)' })),
  REDIS_URL: Type.String({ default: 'redis://127.0.0.1:6379', description: 'Redis for the job queue (`npm start` starts a local redis-server under DATA_DIR when none answers)' }),
  REDIS_PREFIX: Type.Optional(Type.String({ description: 'BullMQ key prefix shared by the API and its workers; unset: derived from a random id stored in the database, so installs sharing a Redis never share a queue' })),
  DATA_DIR: Type.String({ default: './.distilxr', description: 'artifacts, checkpoints and the embedded database' }),
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 8080, description: 'HTTP port of the API (0: any free port)' }),
  HOST: Type.String({ default: '127.0.0.1', description: 'address the API (and a worker\'s metrics) listen on' }),
  LOG_LEVEL: Type.Optional(Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)), { description: 'pino log level; unset: info (warn for `distilxr start`)' })),
  API_KEYS: list('bearer keys, comma-separated: every /v1 route then needs `Authorization: Bearer <key>`; `key:read` is read-only (GET and queries, 403 on writes); empty: no authentication'),
  CORS_ORIGINS: list('origins allowed to call the API from a browser, comma-separated ("*" for any); empty: no CORS headers'),
  RATE_LIMIT_MAX: nonNegative(6000, 'requests per window to /v1 per API key (per client IP without one); 0 turns rate limiting off'),
  RATE_LIMIT_WINDOW_MS: positive(60_000, 'the rate limit\'s window'),
  MAX_BODY_BYTES: positive(1 << 20, 'JSON request bodies'),
  MAX_QUERY_BODY_BYTES: positive(32 << 20, 'JSON body of a top-k query (up to 1000 queries of text or features)'),
  MAX_UPLOAD_BYTES: positive(1 << 30, 'upload limit per file'),
  MAX_TEACHER_BYTES: Type.Integer({ minimum: 1, maximum: ONNX_MAX_BYTES, default: ONNX_MAX_BYTES, description: 'ONNX teacher uploads (the lower of this and MAX_UPLOAD_BYTES applies)', why: 'the ONNX protobuf limit' }),
  MAX_EVENT_STREAMS_PER_CLIENT: nonNegative(32, 'event streams one client (API key, else IP) holds open at once, 429 over it; 0: no cap'),
  MODEL_CACHE_SIZE: positive(4, 'trained models the API keeps loaded for queries'),
  JOB_MAX_MEMORY_MB: positive(8192, 'a job\'s estimated peak memory (pipeline/job-cost.ts) above which submissions get 413; also each pipeline thread\'s JavaScript heap cap'),
  JOB_MAX_SECONDS: positive(86_400, 'a job\'s estimated run time above which submissions get 413'),
  JOB_MAX_STARTS: positive(3, 'starts of one job (each start whose worker process died counts) before it is failed for good'),
  WORKER_CONCURRENCY: positive(1, 'jobs one worker process runs at once; a job left at `threads` 0 trains on cores ÷ this (at least 1)'),
  WORKER_MAX_RSS_MB: optionalPositive('a worker process\'s resident memory above which its running job is failed as out of memory; unset: JOB_MAX_MEMORY_MB × WORKER_CONCURRENCY + 1024'),
  WORKER_LOCK_MS: positive(DEFAULT_LOCK_MS, 'a worker\'s job lock: a dead worker\'s job is taken over about this long after (stalled jobs are looked for every half of it)'),
  WORKER_RECONCILE_MS: positive(60_000, 'how often a worker checks the database\'s unfinished jobs against the queue'),
  WORKER_SCORE_SHARD_PAIRS: nonNegative(DEFAULT_SCORE_SHARD_PAIRS, 'teacher pairs per scoring chunk: a job\'s scoring call of at least twice this many pairs is cut into chunks that any worker scores (BullMQ children of the job; a text teacher\'s transformer run counts as 1,000 pairs); 0: every job scores in its own worker'),
  WORKER_METRICS_PORT: optionalPositive('a worker\'s Prometheus GET /metrics port on HOST (jobs completed/failed/cancelled, takeovers, current job, stage durations); unset: none'),
});

export type ServiceEnv = Static<typeof SERVICE_ENV>;
export type ServiceEnvName = keyof ServiceEnv & string;

interface EnvSpec {
  type?: string;
  minimum?: number;
  maximum?: number;
  default?: unknown;
  description: string;
  why?: string;
  list?: boolean;
  anyOf?: { const: string }[];
}

const specs = (): [ServiceEnvName, EnvSpec][] => Object.entries(SERVICE_ENV.properties as Record<ServiceEnvName, TSchema>).map(([k, s]) => [k as ServiceEnvName, s as unknown as EnvSpec]);

/** What a setting accepts, as the sentence its error message and `distilxr env` both use. */
function expectation(s: EnvSpec): string {
  if (s.anyOf) return `one of ${s.anyOf.map((a) => a.const).join(', ')}`;
  if (s.type !== 'integer') return s.list ? 'a comma-separated list' : 'a string';
  const kind = s.minimum === 1 ? 'a positive integer' : 'a non-negative integer';
  return s.maximum === undefined ? kind : `${kind}, at most ${s.maximum}${s.why ? ` (${s.why})` : ''}`;
}

/**
 * The environment's values for every setting, defaults filled in; an empty variable counts as
 * unset. A value of the wrong type or out of range is a UsageError naming the variable, the
 * value and what it accepts (integers are strict: "1.5" or "8k" are refused, not rounded).
 */
export function parseServiceEnv(env: NodeJS.ProcessEnv): ServiceEnv {
  const out: Record<string, unknown> = {};
  for (const [name, s] of specs()) {
    const raw = env[name];
    if (raw === undefined || raw === '') {
      if (s.default !== undefined) out[name] = s.default;
      continue;
    }
    const bad = (): UsageError => new UsageError(`${name} must be ${expectation(s)}, got "${raw}"`);
    if (s.type === 'integer') {
      if (!/^\s*-?\d+\s*$/.test(raw)) throw bad();
      const n = Number(raw);
      if (n < (s.minimum ?? -Infinity) || n > (s.maximum ?? Infinity)) throw bad();
      out[name] = n;
    } else if (s.anyOf) {
      if (!s.anyOf.some((a) => a.const === raw)) throw bad();
      out[name] = raw;
    } else {
      out[name] = raw;
    }
  }
  return out as ServiceEnv;
}

/** A list setting's entries: trimmed, blanks dropped. */
export const listOf = (v: string): string[] =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

/** `distilxr env`: every variable with what it accepts, its default and its meaning (markdown table). */
export function serviceEnvTable(): string {
  const rows = specs().map(([name, s]) => {
    const def = s.default === undefined ? 'unset' : s.default === '' ? 'empty' : String(s.default);
    return `| \`${name}\` | ${expectation(s)} | ${def} | ${s.description} |`;
  });
  return ['| variable | accepts | default | meaning |', '|---|---|---|---|', ...rows].join('\n') + '\n';
}
