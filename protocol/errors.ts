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
  /** A well-formed message whose content is refused (a job input failing its schema, an unknown job kind). */
  invalidInput: 'invalid-input',
  /** The request contradicts the target's state (a reused idempotency key with another input, approving a job that waits for nothing). */
  conflict: 'conflict',
  /** A presence (awareness) state, or the document's presence as a whole, over its size limit. */
  presenceTooLarge: 'presence-too-large',
  /** The sender (one connection) sends faster than its limit allows. */
  rateLimited: 'rate-limited',
  /**
   * The actor's answer (a job view whose step outputs total several MiB) is larger than one NATS message
   * (the server's max_payload) carries: the caller gets this instead of a reply that could never be sent.
   */
  replyTooLarge: 'reply-too-large',
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
  /** Too many open sockets for this user or this IP on the gateway (LOOM_WS_MAX_CONNECTIONS_PER_*); close one first. */
  tooManyConnections: 4430,
  unavailable: 4503,
} as const;
export type CloseCode = (typeof CLOSE_CODES)[keyof typeof CLOSE_CODES];

/** Close code a gateway uses when the actor refuses a client's update with `code`. */
export function closeCodeForError(code: ErrorCode): CloseCode {
  switch (code) {
    case 'update-too-large':
    case 'presence-too-large':
      return CLOSE_CODES.messageTooBig;
    case 'rate-limited':
      return CLOSE_CODES.rateLimited;
    case 'document-too-large':
    case 'reply-too-large':
      return CLOSE_CODES.documentTooLarge;
    case 'invalid-update':
    case 'malformed-message':
    case 'unsupported-version':
    case 'invalid-input':
    case 'conflict':
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

/** A WebSocket close reason may carry at most 123 UTF-8 bytes. */
export const MAX_CLOSE_REASON_BYTES = 123;

/** Trims a close reason to MAX_CLOSE_REASON_BYTES on a character boundary (ws throws past the limit). */
export function closeReason(text: string): string {
  if (Buffer.byteLength(text, 'utf8') <= MAX_CLOSE_REASON_BYTES) return text;
  let out = '';
  let bytes = 0;
  for (const ch of text) {
    const size = Buffer.byteLength(ch, 'utf8');
    if (bytes + size > MAX_CLOSE_REASON_BYTES - 3) break;
    out += ch;
    bytes += size;
  }
  return `${out}...`;
}
