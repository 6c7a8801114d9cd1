/**
 * Who wrote a document update: the `Loom-Author` header's format. An author
 * is `<kind>:<id>` with kind `user`, `job` or `agent`; the id is the
 * subject token of the user, job or agent session id (ids.ts), so any actor
 * id has exactly one spelling here. Updates without the header are
 * attributed to `unknown`.
 *
 * Only people (the gateway, from the socket's principal), jobs and agent
 * sessions set it; a trusted internal NATS user can set any value, which is
 * why NATS users per role limit who may publish document commands.
 */
import { ProtocolError } from './errors.ts';
import { HEADERS, type HeaderMap } from './headers.ts';
import { idToToken, parseActorId } from './ids.ts';

export const AUTHOR_KINDS = ['user', 'job', 'agent'] as const;
export type AuthorKind = (typeof AUTHOR_KINDS)[number];

declare const brand: unique symbol;
/** A validated `<kind>:<id>` author. */
export type Author = string & { readonly [brand]: 'Author' };

/** What attribution reports for text written without a `Loom-Author` header. */
export const UNKNOWN_AUTHOR = 'unknown';
/** An author, or `unknown`. */
export type AuthorOrUnknown = Author | typeof UNKNOWN_AUTHOR;

/** Longest author accepted: the kind, a colon and the longest id token. */
export const MAX_AUTHOR_CHARS = 300;
const AUTHOR = /^(user|job|agent):[A-Za-z0-9_.=-]+$/;

/**
 * Validates an author string from any edge.
 * @throws ProtocolError `malformed-message` naming the expected shape.
 */
export function parseAuthor(raw: string): Author {
  if (raw.length > MAX_AUTHOR_CHARS || !AUTHOR.test(raw)) {
    throw new ProtocolError('malformed-message', `author must be user:<id>, job:<id> or agent:<id> (id as a subject token), got ${JSON.stringify(raw.slice(0, 80))}`);
  }
  return raw as Author;
}

/** Whether a string is a valid author (for validators that report their own error). */
export function isAuthor(raw: string): raw is Author {
  return raw.length <= MAX_AUTHOR_CHARS && AUTHOR.test(raw);
}

/**
 * The author for a user, job or agent session id.
 * @throws ProtocolError `invalid-id` when the id is not a valid actor id.
 * @example authorFor('job', 'job_abc') // 'job:job_abc'
 */
export function authorFor(kind: AuthorKind, id: string): Author {
  return parseAuthor(`${kind}:${idToToken(parseActorId(id))}`);
}

/** The kind part of an author. */
export function authorKind(author: Author): AuthorKind {
  return author.slice(0, author.indexOf(':')) as AuthorKind;
}

/** Jobs and agent sessions can be reverted; people cannot. */
export function isRevertable(author: Author): boolean {
  const kind = authorKind(author);
  return kind === 'job' || kind === 'agent';
}

/**
 * Reads the optional `Loom-Author` header of a document command.
 * @returns the author, or undefined when the header is absent or empty.
 * @throws ProtocolError `malformed-message` when present but malformed.
 */
export function readAuthorHeader(headers: HeaderMap): Author | undefined {
  const raw = headers[HEADERS.author];
  if (raw === undefined || raw === '') return undefined;
  return parseAuthor(raw);
}
