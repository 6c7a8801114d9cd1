/**
 * How a tool's failure becomes the result the model sees. Tools throw
 * `ToolFailure` for what they refuse themselves; the services they call
 * (documents, uploads) raise ServiceErrors whose failure kind maps to a tool
 * code, and actors answer ProtocolErrors. Only public messages reach the
 * model; anything else is `failed` with a generic message (the runner logs
 * the detail).
 */
import type { ToolErrorCode, ToolResult } from '../../actors/agent/tool.ts';
import { ProtocolError } from '../../protocol/errors.ts';
import { type FailureKind, ServiceError } from '../errors/index.ts';

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

/** Each kind of service failure (src/errors), as the model sees it. */
const BY_KIND: Readonly<Record<FailureKind, ToolErrorCode>> = {
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

/** The message of a failure whose detail is not for the model (the runner logs those). */
export const UNEXPECTED_FAILURE = 'the tool failed unexpectedly';

/** The model-facing result of an error a tool threw (not of a timeout or cancel: the runner knows those). */
export function resultOfError(err: unknown): ToolResult & { ok: false } {
  if (err instanceof ToolFailure) return { ok: false, code: err.code, error: err.message };
  if (err instanceof ProtocolError) return { ok: false, code: byProtocolCode(err), error: err.message };
  if (err instanceof ServiceError && err.public) return { ok: false, code: BY_KIND[err.kind], error: err.message };
  return { ok: false, code: 'failed', error: UNEXPECTED_FAILURE };
}
