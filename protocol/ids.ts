/**
 * Actor identities. An id becomes one NATS subject token and one KV key token,
 * so it is validated at every edge and encoded reversibly when its spelling is
 * not already a safe token. Editors name rooms freely ("team/notes:2026.md"),
 * so an id is never rejected for its characters alone, only for its length or
 * for control characters.
 */
import { ProtocolError } from './errors.ts';

export const ACTOR_KINDS = ['doc', 'job', 'agent'] as const;
export type ActorKind = (typeof ACTOR_KINDS)[number];

declare const brand: unique symbol;
/** An actor id that passed validation. */
export type ActorId = string & { readonly [brand]: 'ActorId' };
/** A document id (validated). */
export type DocId = ActorId;

/** Longest id in UTF-8 bytes; keeps subjects and keys well under server limits. */
export const MAX_ID_BYTES = 200;

const PLAIN = /^[A-Za-z0-9_-]+$/;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
/** Encoded tokens start with '=', which a plain token can never contain. */
const ENCODED_PREFIX = '=';

export function isActorKind(value: string): value is ActorKind {
  return (ACTOR_KINDS as readonly string[]).includes(value);
}

/**
 * Validates a raw id from any edge.
 * @throws ProtocolError `invalid-id` when empty, too long or containing control characters.
 */
export function parseActorId(raw: string): ActorId {
  if (raw.length === 0) throw new ProtocolError('invalid-id', 'id must not be empty');
  if (Buffer.byteLength(raw, 'utf8') > MAX_ID_BYTES) {
    throw new ProtocolError('invalid-id', `id is longer than ${MAX_ID_BYTES} bytes`);
  }
  if (CONTROL.test(raw)) throw new ProtocolError('invalid-id', 'id must not contain control characters');
  if (raw.isWellFormed !== undefined && !raw.isWellFormed()) {
    throw new ProtocolError('invalid-id', 'id must be well-formed unicode');
  }
  return raw as ActorId;
}

/** The subject/KV token for an id: itself when plain, else '=' + base64url(utf8). */
export function idToToken(id: ActorId): string {
  return PLAIN.test(id) ? id : ENCODED_PREFIX + Buffer.from(id, 'utf8').toString('base64url');
}

/**
 * Inverse of idToToken.
 * @throws ProtocolError `invalid-id` when the token is not one idToToken produces.
 */
export function tokenToId(token: string): ActorId {
  if (PLAIN.test(token)) return parseActorId(token);
  if (token.startsWith(ENCODED_PREFIX)) {
    const body = token.slice(ENCODED_PREFIX.length);
    if (body.length > 0 && /^[A-Za-z0-9_-]+$/.test(body)) {
      const id = Buffer.from(body, 'base64url').toString('utf8');
      // Only canonical encodings are accepted, so every id has exactly one token.
      if (!PLAIN.test(id) && Buffer.from(id, 'utf8').toString('base64url') === body) return parseActorId(id);
    }
  }
  throw new ProtocolError('invalid-id', `not a valid id token: ${JSON.stringify(token.slice(0, 80))}`);
}
