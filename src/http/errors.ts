/**
 * Maps errors to HTTP once, at the edge. Services raise ServiceErrors
 * (AuthError, DocumentError, UploadError, ...) that say what kind of failure
 * happened; this module alone gives each kind its status. HttpErrors (thrown
 * by routes and middleware here) and public protocol errors keep their
 * status, code and message; Hono's own HTTPExceptions (malformed JSON, body
 * limit) get a stable code by status; anything else becomes a generic 500
 * with the detail in the logs only. Every error body is
 * `{ "error": { "code", "message", "field"? } }`.
 */
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { type ErrorCode, ProtocolError } from '../../protocol/errors.ts';
import { type FailureKind, ServiceError, type ServiceErrorOptions } from '../errors/index.ts';
import type { Logger } from '../log.ts';

/** Statuses an {@link HttpError} may carry. */
export type HttpErrorStatus = 400 | 401 | 403 | 404 | 409 | 413 | 415 | 422 | 429 | 500 | 503;

/** Options of {@link HttpError}: the field at fault (400s), the retry delay (429: `Retry-After`), the cause. */
export type HttpErrorOptions = ServiceErrorOptions;

/** The HTTP status of each kind of service failure; the only place they are decided. */
export const STATUS_FOR_KIND: Readonly<Record<FailureKind, Exclude<HttpErrorStatus, 500>>> = {
  invalid: 400,
  unauthenticated: 401,
  forbidden: 403,
  'not-found': 404,
  conflict: 409,
  'too-large': 413,
  'unsupported-type': 415,
  refused: 422,
  'rate-limited': 429,
  unavailable: 503,
};

const KIND_FOR_STATUS = Object.fromEntries(Object.entries(STATUS_FOR_KIND).map(([kind, status]) => [status, kind])) as Record<
  Exclude<HttpErrorStatus, 500>,
  FailureKind
>;

/**
 * An error of the HTTP layer itself (routes, middleware, validation): a
 * status, a stable kebab-case `code` clients switch on, and a human message.
 * Services below src/http raise their own ServiceErrors instead.
 * @example throw new HttpError(404, 'not-found', 'no such active API key');
 */
export class HttpError extends ServiceError {
  override readonly name: string = 'HttpError';
  constructor(
    readonly status: Exclude<HttpErrorStatus, 500>,
    code: string,
    message: string,
    options: HttpErrorOptions = {},
  ) {
    super(KIND_FOR_STATUS[status], code, message, options);
  }
}

/** Stable codes for Hono's HTTPExceptions, by status. */
function codeForHttpException(status: number): string {
  if (status === 400) return 'bad-request';
  if (status === 401) return 'unauthenticated';
  if (status === 413) return 'payload-too-large';
  return 'http-error';
}

export function statusForCode(code: ErrorCode): ContentfulStatusCode {
  switch (code) {
    case 'invalid-id':
    case 'invalid-subject':
    case 'malformed-message':
    case 'invalid-update':
    case 'unsupported-version':
      return 400;
    case 'invalid-input':
      return 400;
    case 'conflict':
      return 409;
    case 'not-found':
      return 404;
    case 'update-too-large':
    case 'document-too-large':
    case 'presence-too-large':
    // What was asked for is too large to carry, as document-too-large is for a document's content: never a 500.
    case 'reply-too-large':
      return 413;
    case 'mailbox-full':
    case 'rate-limited':
      return 429;
    case 'not-owner':
    case 'unavailable':
      return 503;
    case 'timeout':
      return 504;
    case 'internal':
      return 500;
    default: {
      const never: never = code;
      throw new Error(`unhandled code ${String(never)}`);
    }
  }
}

/** Renders any error as Loom's JSON error body; unexpected ones are logged and hidden. */
export function errorResponse(c: Context, err: unknown, log: Logger): Response {
  if (err instanceof ServiceError && err.public) {
    const status = STATUS_FOR_KIND[err.kind];
    if (err.retryAfterMs !== undefined) c.header('Retry-After', String(Math.max(1, Math.ceil(err.retryAfterMs / 1000))));
    if (status === 401) c.header('WWW-Authenticate', 'Bearer');
    if (status >= 500) log.error({ err, method: c.req.method, path: c.req.path }, 'request failed');
    const body = {
      code: err.code,
      message: err.message,
      ...(err.field === undefined ? {} : { field: err.field }),
      ...(err.problems === undefined ? {} : { errors: err.problems }),
    };
    return c.json({ error: body }, status);
  }
  if (err instanceof HTTPException && err.status < 500) {
    return c.json({ error: { code: codeForHttpException(err.status), message: err.message } }, err.status);
  }
  if (err instanceof ProtocolError) {
    return c.json({ error: { code: err.code, message: err.message } }, statusForCode(err.code));
  }
  log.error({ err, method: c.req.method, path: c.req.path }, 'request failed');
  return c.json({ error: { code: 'internal', message: 'internal error' } }, 500);
}
