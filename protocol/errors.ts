/**
 * Wire error codes (NATS replies, HTTP bodies) and WebSocket close codes.
 * Every code is stable: clients and internal services switch on it.
 */

export const ERROR_CODES = {
  invalidId: 'invalid-id',
  invalidSubject: 'invalid-subject',
  malformedMessage: 'malformed-message',
  unsupportedVersion: 'unsupported-version',
  invalidUpdate: 'invalid-update',
  updateTooLarge: 'update-too-large',
  documentTooLarge: 'document-too-large',
  mailboxFull: 'mailbox-full',
  notOwner: 'not-owner',
  unavailable: 'unavailable',
  timeout: 'timeout',
  notFound: 'not-found',
  internal: 'internal',
} as const;
export type ErrorCode = (typeof ERROR_CODES)[keyof typeof ERROR_CODES];

const RETRYABLE: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['mailbox-full', 'not-owner', 'unavailable', 'timeout']);

/** Whether a caller may retry the same message after this error. */
export function isRetryable(code: ErrorCode): boolean {
  return RETRYABLE.has(code);
}

export function isErrorCode(value: string): value is ErrorCode {
  return (Object.values(ERROR_CODES) as string[]).includes(value);
}

/** A protocol-level failure with a stable code, safe to show to the sender (`public`). */
export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  readonly public = true;
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
  get retryable(): boolean {
    return isRetryable(this.code);
  }
}

/**
 * WebSocket close codes. 1000-range codes are the standard ones; 4xxx mirror
 * HTTP statuses so they read naturally (4400 bad request, 4413 too large).
 */
export const CLOSE_CODES = {
  normal: 1000,
  goingAway: 1001,
  unsupportedData: 1003,
  messageTooBig: 1009,
  internalError: 1011,
  tryAgainLater: 1013,
  malformedFrame: 4400,
  unauthorized: 4401,
  forbidden: 4403,
  invalidDocId: 4404,
  slowConsumer: 4408,
  documentTooLarge: 4413,
  unknownMessageType: 4415,
  updateRejected: 4422,
  rateLimited: 4429,
  unavailable: 4503,
} as const;
export type CloseCode = (typeof CLOSE_CODES)[keyof typeof CLOSE_CODES];

/** Close code a gateway uses when the actor refuses a client's update with `code`. */
export function closeCodeForError(code: ErrorCode): CloseCode {
  switch (code) {
    case 'update-too-large':
      return CLOSE_CODES.messageTooBig;
    case 'document-too-large':
      return CLOSE_CODES.documentTooLarge;
    case 'invalid-update':
    case 'malformed-message':
    case 'unsupported-version':
      return CLOSE_CODES.updateRejected;
    case 'invalid-id':
    case 'invalid-subject':
      return CLOSE_CODES.invalidDocId;
    case 'not-found':
      return CLOSE_CODES.invalidDocId;
    case 'mailbox-full':
    case 'not-owner':
    case 'unavailable':
    case 'timeout':
      return CLOSE_CODES.unavailable;
    case 'internal':
      return CLOSE_CODES.internalError;
    default: {
      const never: never = code;
      throw new Error(`unhandled error code ${String(never)}`);
    }
  }
}
