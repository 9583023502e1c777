/**
 * The one error handler: our errors and core errors by code (errors.ts), schema validation with
 * the field named, fastify's own 4xx errors, and everything else as a 500 whose body says only
 * "internal error" (the details go to the log under the request id).
 */
import type { FastifyError, FastifyReply, FastifyRequest, FastifySchemaValidationError } from 'fastify';
import fp from 'fastify-plugin';
import { STATUS_CODES } from 'node:http';
import { DistilxrError } from '../../core/util/errors.js';
import { isTransientDbError } from '../../infra/db/db-retry.js';
import { ApiError, CORE_ERROR_CODES, ERROR_CODES, type ErrorBody, type ErrorCode } from '../errors.js';

/** Fastify's and @fastify/multipart's client errors, by their code. */
const FASTIFY_CODES: Readonly<Record<string, ErrorCode>> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'DXR_UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'DXR_BAD_REQUEST',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'DXR_BAD_JSON',
  FST_ERR_CTP_INVALID_JSON_BODY: 'DXR_BAD_JSON',
  FST_ERR_CTP_BODY_TOO_LARGE: 'DXR_TOO_LARGE',
  FST_ERR_CTP_EMPTY_TYPE: 'DXR_UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_TYPE: 'DXR_UNSUPPORTED_MEDIA_TYPE',
  FST_INVALID_MULTIPART_CONTENT_TYPE: 'DXR_UNSUPPORTED_MEDIA_TYPE',
  FST_REQ_FILE_TOO_LARGE: 'DXR_TOO_LARGE',
  FST_PARTS_LIMIT: 'DXR_TOO_LARGE',
  FST_FILES_LIMIT: 'DXR_TOO_LARGE',
  FST_FIELDS_LIMIT: 'DXR_TOO_LARGE',
  FST_PROTO_VIOLATION: 'DXR_BAD_REQUEST',
  FST_MP_PREMATURE_CLOSE: 'DXR_BAD_REQUEST',
};

const FASTIFY_MESSAGES: Readonly<Record<string, string>> = {
  FST_INVALID_MULTIPART_CONTENT_TYPE: 'expected Content-Type multipart/form-data',
  FST_PARTS_LIMIT: 'too many multipart parts',
  FST_FILES_LIMIT: 'too many files in the multipart body',
  FST_FIELDS_LIMIT: 'too many fields in the multipart body',
};

/** "/params/dim" → "params.dim", "/queries/0/text" → "queries[0].text". */
function fieldPath(part: string, pointer: string): string {
  let out = part;
  for (const seg of pointer.split('/').slice(1)) {
    const s = seg.replace(/~1/g, '/').replace(/~0/g, '~');
    out += /^\d+$/.test(s) ? `[${s}]` : `.${s}`;
  }
  return out;
}

/** One sentence naming the field and what is wrong with it. */
export function describeValidation(errors: FastifySchemaValidationError[], part: string): string {
  const unknown = errors.find((e) => e.keyword === 'additionalProperties');
  if (unknown) {
    const p = unknown.params as { additionalProperties?: string[]; additionalProperty?: string };
    const name = p.additionalProperties?.[0] ?? p.additionalProperty ?? '?';
    return `${fieldPath(part, unknown.instancePath)}.${name} is not allowed (unknown property "${name}")`;
  }
  const e = errors.find((x) => x.keyword !== 'anyOf') ?? errors[0];
  if (!e) return `${part} is invalid`;
  if (e.keyword === 'required') {
    const p = e.params as { requiredProperties?: string[]; missingProperty?: string };
    const name = p.requiredProperties?.[0] ?? p.missingProperty;
    if (name) return `${fieldPath(part, e.instancePath)}.${name} is required`;
  }
  if (e.keyword === 'boolean') return `${fieldPath(part, e.instancePath)} is not allowed`;
  return `${fieldPath(part, e.instancePath)} ${e.message ?? 'is invalid'}`;
}

function body(code: ErrorCode, message: string, request: FastifyRequest): ErrorBody {
  const statusCode = ERROR_CODES[code];
  return { statusCode, code, error: STATUS_CODES[statusCode] ?? 'Error', message, requestId: String(request.id) };
}

export function toErrorBody(err: FastifyError | Error, request: FastifyRequest): ErrorBody | null {
  if (err instanceof ApiError) return body(err.code as ErrorCode, err.message, request);
  if (err instanceof DistilxrError) {
    const code = CORE_ERROR_CODES[err.code];
    return code ? body(code, err.message, request) : null;
  }
  // the database is restarting or unreachable: a dependency is down, not a bug; clients may retry
  if (isTransientDbError(err)) return body('DXR_NOT_READY', 'the database is unavailable; retry shortly', request);
  const fe = err as FastifyError;
  if (fe.validation) return body('DXR_VALIDATION', describeValidation(fe.validation, fe.validationContext ?? 'request'), request);
  const code = fe.code ? FASTIFY_CODES[fe.code] : undefined;
  if (fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return body('DXR_TOO_LARGE', `request body is larger than the limit of ${request.routeOptions.bodyLimit} bytes`, request);
  if (code) return body(code, FASTIFY_MESSAGES[fe.code] ?? fe.message, request);
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    // another framework client error: keep its status, describe it with our generic code
    return { ...body('DXR_BAD_REQUEST', fe.message, request), statusCode: fe.statusCode, error: STATUS_CODES[fe.statusCode] ?? 'Error' };
  }
  return null;
}

export default fp(
  async (app) => {
    app.setErrorHandler((err: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
      const known = toErrorBody(err, request);
      // 5xx bodies say only "internal error", except our own "not ready" (a dependency is down)
      if (known && (known.statusCode < 500 || known.code === 'DXR_NOT_READY')) {
        request.log.info({ code: known.code, msg: known.message }, 'request refused');
        return reply.status(known.statusCode).send(known);
      }
      request.log.error({ err }, 'internal error');
      return reply.status(500).send(body('DXR_INTERNAL', 'internal error', request));
    });
    app.setNotFoundHandler((request, reply) => {
      reply.status(404).send(body('DXR_NOT_FOUND', `route ${request.method} ${request.url.split('?')[0].slice(0, 200)} not found`, request));
    });
    app.addHook('onSend', async (request, reply) => {
      reply.header('x-request-id', request.id);
    });
  },
  { name: 'error-handler', fastify: '5.x' },
);
