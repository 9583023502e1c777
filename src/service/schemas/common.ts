import { Type, type TSchema } from 'typebox';
import { ERROR_CODES } from '../errors.js';

/** Every id the service hands out is a UUID (random, or UUID-shaped from a digest). */
export const UUID_PATTERN = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';

/**
 * A resource id: a UUID, in paths (routes/v1.ts checks it before the schema, 400 otherwise) and in
 * bodies alike, so the OpenAPI document states what the server enforces. A well-formed id that
 * was never issued is 404.
 */
export const Id = Type.String({ pattern: UUID_PATTERN, description: 'resource id (a UUID)' });

export const IdParams = Type.Object({ id: Id });

export const Timestamp = Type.String({ format: 'date-time' });

export const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);

/** A JSON object whose shape belongs to another layer (metrics, stats of the pipeline). */
export const FreeObject = (description: string) => Type.Object({}, { additionalProperties: true, description });

export const ErrorResponse = Type.Object(
  {
    statusCode: Type.Integer(),
    code: Type.String({ description: `one of ${Object.keys(ERROR_CODES).join(', ')}` }),
    error: Type.String(),
    message: Type.String({ description: 'what was wrong (4xx); "internal error" for 5xx' }),
    requestId: Type.String(),
  },
  { description: 'every error response' },
);

/** Error responses a /v1 route can give besides its own (auth, validation). */
export const commonErrors = {
  400: ErrorResponse,
  401: ErrorResponse,
  500: ErrorResponse,
};

/** Page size of a list. @defaultValue 100 */
export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 1000;

/** `limit` and `cursor` of every list route (GET /v1/datasets, teachers, models, jobs). */
export const pageQueryProperties = {
  // a query string is converted before the check, and the conversion truncates "1.5" to an
  // integer: a Number that must be a multiple of 1 refuses it instead
  limit: Type.Optional(Type.Number({ minimum: 1, maximum: MAX_PAGE_SIZE, multipleOf: 1, default: DEFAULT_PAGE_SIZE, description: 'items per page (an integer)' })),
  cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 200, pattern: '^[A-Za-z0-9_-]+$', description: 'nextCursor of the previous page' })),
};

export const PageQuery = Type.Object(pageQueryProperties, { additionalProperties: false });

export const NextCursor = Nullable(Type.String({ description: 'pass as `cursor` for the next page; null on the last page' }));

/** 204 responses (DELETE): no body. */
export const NoContent = Type.Null({ description: 'no content' });

export const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

/** FeaturizerOptions (JSONL text datasets only): how text becomes sparse features. */
export const FeaturizerParams = Type.Object(
  {
    minDf: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000_000, default: 2, description: 'drop terms seen in fewer training documents' })),
    maxFeatures: Type.Optional(Type.Integer({ minimum: 1, maximum: 1 << 24, default: 1 << 18, description: 'vocabulary cap' })),
    bigrams: Type.Optional(Type.Boolean({ default: true, description: 'also emit word bigrams' })),
    hashing: Type.Optional(Type.Union([Type.Boolean(), Type.Literal('always')], { default: false, description: "feature hashing: false, true (when the vocabulary is too large) or 'always'" })),
    hashBits: Type.Optional(Type.Integer({ minimum: 1, maximum: 24, description: 'hash into 2^hashBits buckets' })),
  },
  { additionalProperties: false, description: 'text featurizer settings (JSONL datasets only)' },
);

/** validatorCompiler of the multipart routes, which parse their own (streamed) body: their body schema is documentation only. */
export const documentOnlyBody = () => () => true;
