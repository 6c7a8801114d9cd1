/**
 * Maps errors to HTTP once, at the edge: public protocol errors keep their
 * code and message; anything else becomes a generic 500 with the detail in
 * the logs only.
 */
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { type ErrorCode, ProtocolError } from '../../protocol/errors.ts';
import type { Logger } from '../log.ts';

export function statusForCode(code: ErrorCode): ContentfulStatusCode {
  switch (code) {
    case 'invalid-id':
    case 'invalid-subject':
    case 'malformed-message':
    case 'invalid-update':
    case 'unsupported-version':
      return 400;
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

export function errorResponse(c: Context, err: unknown, log: Logger): Response {
  if (err instanceof ProtocolError) {
    return c.json({ error: { code: err.code, message: err.message } }, statusForCode(err.code));
  }
  log.error({ err, method: c.req.method, path: c.req.path }, 'request failed');
  return c.json({ error: { code: 'internal', message: 'internal error' } }, 500);
}
