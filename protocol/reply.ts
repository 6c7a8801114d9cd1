/**
 * The reply envelope shared by every actor command: success carries a
 * command-specific body; failure carries the Loom-Error header and a JSON body
 * `{ "code": ErrorCode, "message": string }`.
 */
import { z } from 'zod';
import { type ErrorCode, ProtocolError, isErrorCode } from './errors.ts';
import { HEADERS, type HeaderMap } from './headers.ts';

export interface WireMessage {
  readonly headers: HeaderMap;
  readonly body: Uint8Array;
}

export interface ErrorBody {
  readonly code: ErrorCode;
  readonly message: string;
}

const errorBodySchema = z.object({ code: z.string(), message: z.string() });
const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder('utf-8', { fatal: true });

export function encodeJson(value: unknown): Uint8Array {
  return textEncoder.encode(JSON.stringify(value));
}

/**
 * Parses a JSON body against a schema.
 * @throws ProtocolError `malformed-message` naming what was wrong.
 */
export function decodeJson<T>(body: Uint8Array, schema: z.ZodType<T, z.ZodTypeDef, unknown>, what: string): T {
  let value: unknown;
  try {
    value = JSON.parse(textDecoder.decode(body));
  } catch (err) {
    throw new ProtocolError('malformed-message', `${what}: body is not UTF-8 JSON`, { cause: err });
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ProtocolError('malformed-message', `${what}: ${issue ? `${issue.path.join('.') || 'body'} ${issue.message}` : 'invalid'}`);
  }
  return parsed.data;
}

export function errorReply(code: ErrorCode, message: string): WireMessage {
  return { headers: { [HEADERS.error]: code }, body: encodeJson({ code, message } satisfies ErrorBody) };
}

/** Returns the error a reply carries, or null for a success reply. */
export function replyError(reply: WireMessage): ProtocolError | null {
  const code = reply.headers[HEADERS.error];
  if (code === undefined) return null;
  let message = 'actor replied with an error';
  try {
    message = decodeJson(reply.body, errorBodySchema, 'error reply').message;
  } catch (err) {
    // The code header is authoritative; a broken body only loses the prose.
    message = `${message} (unreadable body: ${(err as Error).message})`;
  }
  return new ProtocolError(isErrorCode(code) ? code : 'internal', message);
}
