/**
 * How a tool's failure becomes the result the model sees. Tools throw
 * `ToolFailure` for what they refuse themselves; errors of the services they
 * call (documents, uploads, actors) are read by shape, so the mapping
 * follows those services' own classifications instead of HTTP statuses
 * chosen for another edge. Only public messages reach the model; anything
 * else is `failed` with a generic message (the detail goes to the logs).
 */
import type { ToolErrorCode, ToolResult } from '../../actors/agent/tool.ts';
import { ProtocolError } from '../../protocol/errors.ts';

/** A failure a tool reports on purpose, with the code the model sees. */
export class ToolFailure extends Error {
  override readonly name = 'ToolFailure';
  constructor(
    readonly code: ToolErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Failure kinds of src/errors ServiceError (and their HTTP-status forebears), as tool codes. */
const BY_KIND: Readonly<Record<string, ToolErrorCode>> = {
  invalid: 'invalid-arguments',
  unauthenticated: 'forbidden',
  forbidden: 'forbidden',
  'not-found': 'not-found',
  conflict: 'failed',
  'too-large': 'failed',
  'unsupported-type': 'failed',
  refused: 'failed',
  'rate-limited': 'unavailable',
  unavailable: 'unavailable',
};

function byStatus(status: number): ToolErrorCode {
  if (status === 401 || status === 403) return 'forbidden';
  if (status === 404) return 'not-found';
  if (status === 400 || status === 422) return 'invalid-arguments';
  if (status === 429 || status === 503) return 'unavailable';
  if (status === 504) return 'timeout';
  return 'failed';
}

function byProtocolCode(err: ProtocolError): ToolErrorCode {
  switch (err.code) {
    case 'not-found':
      return 'not-found';
    case 'timeout':
      return 'timeout';
    case 'invalid-id':
    case 'invalid-input':
      return 'invalid-arguments';
    default:
      return err.retryable ? 'unavailable' : 'failed';
  }
}

interface ShapedError {
  readonly message: string;
  readonly public?: unknown;
  readonly kind?: unknown;
  readonly status?: unknown;
}

/** The message of a failure whose detail is not for the model (the runner logs those). */
export const UNEXPECTED_FAILURE = 'the tool failed unexpectedly';

/** The model-facing result of an error a tool threw (not of a timeout or cancel: the runner knows those). */
export function resultOfError(err: unknown): ToolResult & { ok: false } {
  if (err instanceof ToolFailure) return { ok: false, code: err.code, error: err.message };
  if (err instanceof ProtocolError) return { ok: false, code: byProtocolCode(err), error: err.message };
  if (err instanceof Error) {
    const shaped = err as ShapedError;
    if (shaped.public === true) {
      if (typeof shaped.kind === 'string' && BY_KIND[shaped.kind] !== undefined) return { ok: false, code: BY_KIND[shaped.kind] ?? 'failed', error: err.message };
      if (typeof shaped.status === 'number') return { ok: false, code: byStatus(shaped.status), error: err.message };
    }
  }
  return { ok: false, code: 'failed', error: UNEXPECTED_FAILURE };
}
