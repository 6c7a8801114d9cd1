/**
 * Maps errors to HTTP once, at the edge: HttpErrors and public protocol
 * errors keep their status, code and message; Hono's own HTTPExceptions
 * (malformed JSON, body limit) get a stable code by status; anything else
 * becomes a generic 500 with the detail in the logs only. Every error body
 * is `{ "error": { "code", "message", "field"? } }`.
 */
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { type ErrorCode, ProtocolError } from '../../protocol/errors.ts';
import type { Logger } from '../log.ts';

/** Statuses an {@link HttpError} may carry. */
export type HttpErrorStatus = 400 | 401 | 403 | 404 | 409 | 413 | 415 | 422 | 429 | 500 | 503;

/** Options of {@link HttpError}. */
export interface HttpErrorOptions {
  /** The request field at fault (400s), dotted path, e.g. `scopes.0`. */
  readonly field?: string;
  /** For 429: when the client may try again; becomes `Retry-After` (whole seconds, rounded up). */
  readonly retryAfterMs?: number;
  readonly cause?: unknown;
}

/**
 * An error meant for the HTTP client: a status, a stable kebab-case `code`
 * clients switch on, and a human message. Thrown anywhere below a route;
 * the app's error handler renders it.
 * @example throw new HttpError(409, 'email-taken', 'an account with this email exists', { field: 'email' });
 */
export class HttpError extends Error {
  override readonly name: string = 'HttpError';
  readonly public = true;
  readonly field: string | undefined;
  readonly retryAfterMs: number | undefined;

  constructor(
    readonly status: HttpErrorStatus,
    readonly code: string,
    message: string,
    options: HttpErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.field = options.field;
    this.retryAfterMs = options.retryAfterMs;
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
      return 413;
    case 'mailbox-full':
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
  if (err instanceof HttpError) {
    if (err.retryAfterMs !== undefined) c.header('Retry-After', String(Math.max(1, Math.ceil(err.retryAfterMs / 1000))));
    if (err.status === 401) c.header('WWW-Authenticate', 'Bearer');
    if (err.status >= 500) log.error({ err, method: c.req.method, path: c.req.path }, 'request failed');
    const body = { code: err.code, message: err.message, ...(err.field === undefined ? {} : { field: err.field }) };
    return c.json({ error: body }, err.status);
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
