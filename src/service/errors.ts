/**
 * Every error code the API answers with, and its HTTP status. Route code throws the classes made
 * here; core errors (DataFormatError, ContractError, UsageError, ...) and store errors are mapped
 * by their `code` in CORE_ERROR_CODES. The error handler (plugins/error-handler.ts) is the only
 * place that turns an error into a response. test/api.test.ts pins the list.
 */
import { DistilxrError } from '../core/util/errors.js';

export const ERROR_CODES = {
  /** Schema validation of body, query string or path parameters failed; the message names the field. */
  DXR_VALIDATION: 400,
  /** A request that parses but makes no sense (a core UsageError, bad multipart fields...). */
  DXR_BAD_REQUEST: 400,
  /** An uploaded dataset file does not parse; the message is `field:line: problem`. */
  DXR_DATA_FORMAT: 400,
  /** An uploaded ONNX model breaks the teacher contract; the message names the mismatch. */
  DXR_TEACHER_CONTRACT: 400,
  /** A request body that is not valid JSON. */
  DXR_BAD_JSON: 400,
  /** An artifact key that is not a relative path of [A-Za-z0-9._-] segments. */
  DXR_INVALID_KEY: 400,
  /** A required multipart file field is missing. */
  DXR_MISSING_FILE: 400,
  /** No API key, a malformed Authorization header or an unknown key (with `WWW-Authenticate: Bearer`). */
  DXR_UNAUTHORIZED: 401,
  /** A read-only API key asked for a write. */
  DXR_FORBIDDEN: 403,
  /** A resource (dataset, teacher, job, model, file) or route that does not exist. */
  DXR_NOT_FOUND: 404,
  /**
   * The request conflicts with the resource's state: cancelling a finished job, retrying one that
   * did not fail, deleting what a queued or running job uses, a job on a dataset deleted meanwhile.
   */
  DXR_CONFLICT: 409,
  /** An upload or request body over the configured limit, or a job whose estimated memory or run time is (JOB_MAX_MEMORY_MB, JOB_MAX_SECONDS). */
  DXR_TOO_LARGE: 413,
  /** Wrong Content-Type (JSON expected, or multipart/form-data expected). */
  DXR_UNSUPPORTED_MEDIA_TYPE: 415,
  /**
   * Over RATE_LIMIT_MAX requests in RATE_LIMIT_WINDOW_MS for this key (or client IP), `Retry-After`
   * saying when to retry; or over MAX_EVENT_STREAMS_PER_CLIENT open event streams.
   */
  DXR_RATE_LIMITED: 429,
  DXR_INTERNAL: 500,
  /** A dependency (database, queue) is down: /readyz. */
  DXR_NOT_READY: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** Codes of core/store errors (DistilxrError.code) that are the client's fault, and what they become. */
export const CORE_ERROR_CODES: Readonly<Record<string, ErrorCode>> = {
  DATA_FORMAT: 'DXR_DATA_FORMAT',
  TEACHER_CONTRACT: 'DXR_TEACHER_CONTRACT',
  USAGE: 'DXR_BAD_REQUEST',
  INVALID_KEY: 'DXR_INVALID_KEY',
  UPLOAD_TOO_LARGE: 'DXR_TOO_LARGE',
  JOB_LIMIT: 'DXR_TOO_LARGE',
  NOT_FOUND: 'DXR_NOT_FOUND',
  // a dataset or teacher deleted between a request's check and its write
  FOREIGN_KEY: 'DXR_CONFLICT',
  ALREADY_RETRIED: 'DXR_CONFLICT',
};

/** An error with an API code; its message is shown to the client when the status is below 500. */
export class ApiError extends DistilxrError {
  readonly statusCode: number;
  constructor(code: ErrorCode, message: string) {
    super(message, code);
    this.statusCode = ERROR_CODES[code];
  }
}

/** A tiny `createError` (fastify lib/errors.js style): one class per code, a message template. */
function createError<A extends unknown[]>(name: string, code: ErrorCode, format: (...args: A) => string) {
  const cls = class extends ApiError {
    constructor(...args: A) {
      super(code, format(...args));
    }
  };
  Object.defineProperty(cls, 'name', { value: name });
  return cls;
}

export const NotFoundError = createError('NotFoundError', 'DXR_NOT_FOUND', (what: string, id: string) => `${what} "${id}" not found`);
export const BadRequestError = createError('BadRequestError', 'DXR_BAD_REQUEST', (message: string) => message);
/** A request part (params, body) that its schema cannot express, e.g. an id that is not a UUID. */
export const ValidationError = createError('ValidationError', 'DXR_VALIDATION', (field: string, problem: string) => `${field} ${problem}`);
export const MissingFileError = createError(
  'MissingFileError',
  'DXR_MISSING_FILE',
  (field: string) => `multipart file field "${field}" is required`,
);
export const TooLargeError = createError(
  'TooLargeError',
  'DXR_TOO_LARGE',
  (what: string, limit: number, setting = 'upload') => `${what} is larger than the ${setting} limit of ${limit} bytes`,
);
export const UnauthorizedError = createError(
  'UnauthorizedError',
  'DXR_UNAUTHORIZED',
  (reason: string) => `${reason}: send "Authorization: Bearer <api key>"`,
);
export const ForbiddenError = createError('ForbiddenError', 'DXR_FORBIDDEN', (what: string) => `this API key is read-only: ${what} needs a key with write access`);
export const RateLimitedError = createError(
  'RateLimitedError',
  'DXR_RATE_LIMITED',
  (max: number, windowMs: number, retryS: number) => `more than ${max} requests in ${windowMs / 1000} s: retry in ${retryS} s`,
);
export const TooManyStreamsError = createError(
  'TooManyStreamsError',
  'DXR_RATE_LIMITED',
  (max: number) => `this client already has ${max} event streams open (MAX_EVENT_STREAMS_PER_CLIENT): close one, or poll GET /v1/jobs/:id`,
);
export const ConflictError = createError('ConflictError', 'DXR_CONFLICT', (message: string) => message);
export const NotReadyError = createError('NotReadyError', 'DXR_NOT_READY', (message: string) => message);

/** The body of every error response. */
export interface ErrorBody {
  statusCode: number;
  code: ErrorCode;
  error: string;
  message: string;
  requestId: string;
}
