/**
 * Object keys: the names blobs have in object storage, shared by the job
 * actor (which writes artifacts), the gateway (which hands out download
 * URLs) and every ObjectStore adapter (which validates keys at its edge).
 *
 * A key is 1..512 ASCII bytes of `/`-separated segments; a segment uses
 * `[A-Za-z0-9._=-]`, is non-empty and never starts with `.` (so `.`, `..`
 * and hidden files cannot be named). That alphabet is safe in S3, in URLs
 * and as a file name, and leaves `~` free for the filesystem adapter's own
 * suffixes. Builders below turn free-form ids into segments reversibly:
 * a spelling already safe is kept, anything else becomes `=` + base64url.
 */
import { idToToken, parseActorId } from '../../protocol/ids.ts';

/** Longest key, in bytes (keys are ASCII). S3 allows 1024; half leaves room for a bucket-side prefix. */
export const MAX_OBJECT_KEY_BYTES = 512;
/** Most `/`-separated segments in a key. */
export const MAX_OBJECT_KEY_SEGMENTS = 16;

const SEGMENT = /^[A-Za-z0-9_=-][A-Za-z0-9._=-]*$/;
/** A spelling kept as-is by {@link keySegment}: safe, and without the `=` that marks encoded segments. */
const PLAIN_SEGMENT = /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/;
const PREFIX_CHARS = /^[A-Za-z0-9._=/-]+$/;

/** A key or prefix that breaks the rules above; public: the caller sent it. */
export class InvalidObjectKeyError extends Error {
  override readonly name = 'InvalidObjectKeyError';
  readonly code = 'invalid-object-key';
  readonly public = true;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/**
 * Checks a key and returns it unchanged.
 * @throws InvalidObjectKeyError naming the first rule the key breaks.
 * @example parseObjectKey('jobs/j1/outline/outline.json')
 */
export function parseObjectKey(key: string): string {
  if (key.length === 0) throw new InvalidObjectKeyError('object key must not be empty');
  if (key.length > MAX_OBJECT_KEY_BYTES) throw new InvalidObjectKeyError(`object key is longer than ${MAX_OBJECT_KEY_BYTES} bytes`);
  const segments = key.split('/');
  if (segments.length > MAX_OBJECT_KEY_SEGMENTS) {
    throw new InvalidObjectKeyError(`object key has more than ${MAX_OBJECT_KEY_SEGMENTS} segments`);
  }
  for (const segment of segments) {
    if (!SEGMENT.test(segment)) {
      throw new InvalidObjectKeyError(
        `object key segment ${JSON.stringify(segment.slice(0, 60))} is not allowed: use 1+ of [A-Za-z0-9._=-], not starting with '.'`,
      );
    }
  }
  return key;
}

/**
 * Checks a prefix for `deletePrefix`: like a key, but it may end with `/` and
 * its last segment may be partial. The empty prefix (everything) is refused.
 * @throws InvalidObjectKeyError
 */
export function parseObjectKeyPrefix(prefix: string): string {
  if (prefix.length === 0) throw new InvalidObjectKeyError('object key prefix must not be empty');
  if (prefix.length > MAX_OBJECT_KEY_BYTES) throw new InvalidObjectKeyError(`object key prefix is longer than ${MAX_OBJECT_KEY_BYTES} bytes`);
  if (!PREFIX_CHARS.test(prefix)) throw new InvalidObjectKeyError('object key prefix may only use [A-Za-z0-9._=/-]');
  const segments = prefix.split('/');
  const last = segments.length - 1;
  for (const [i, segment] of segments.entries()) {
    // Only the final segment may be empty (a trailing '/').
    if (segment === '' ? i !== last : segment.startsWith('.')) {
      throw new InvalidObjectKeyError(`object key prefix ${JSON.stringify(prefix.slice(0, 60))} has an empty or dot-led segment`);
    }
  }
  return prefix;
}

/**
 * Turns any non-empty string (an id, a step name, a file name) into one key
 * segment, reversibly: `outline.json` stays, `a/b c` becomes `=YS9iIGM`.
 * @throws InvalidObjectKeyError when empty or not well-formed unicode.
 */
export function keySegment(raw: string): string {
  if (raw.length === 0) throw new InvalidObjectKeyError('a key segment must not be empty');
  if (!raw.isWellFormed()) throw new InvalidObjectKeyError('a key segment must be well-formed unicode');
  return PLAIN_SEGMENT.test(raw) ? raw : `=${Buffer.from(raw, 'utf8').toString('base64url')}`;
}

/**
 * Inverse of {@link keySegment}.
 * @throws InvalidObjectKeyError when `segment` is not one keySegment produces.
 */
export function segmentToString(segment: string): string {
  if (PLAIN_SEGMENT.test(segment)) return segment;
  const body = segment.startsWith('=') ? segment.slice(1) : '';
  if (body.length > 0 && /^[A-Za-z0-9_-]+$/.test(body)) {
    const raw = Buffer.from(body, 'base64url').toString('utf8');
    if (keySegment(raw) === segment) return raw;
  }
  throw new InvalidObjectKeyError(`not an encoded key segment: ${JSON.stringify(segment.slice(0, 60))}`);
}

/**
 * The one key a job step's artifact is written under: the same inputs always
 * give the same key, so a step retried after a crash finds what it wrote
 * before (`ArtifactStore.putIfAbsent`) instead of writing it twice.
 * @throws InvalidObjectKeyError when a part is empty or the key gets too long.
 * @example artifactKey('j-42', 'compose', 'document.md') // 'jobs/j-42/compose/document.md'
 */
export function artifactKey(jobId: string, stepName: string, name: string): string {
  return parseObjectKey(`${jobArtifactsPrefix(jobId)}${keySegment(stepName)}/${keySegment(name)}`);
}

/**
 * Prefix of every artifact of a job, for `deletePrefix` when the job is
 * deleted. Actor ids become the same token as in NATS subjects (idToToken).
 * @throws ProtocolError `invalid-id` for an id no actor can have.
 */
export function jobArtifactsPrefix(jobId: string): string {
  return `jobs/${idToToken(parseActorId(jobId))}/`;
}

/** Key of a named object belonging to a document (large snapshots, embedded files). */
export function documentObjectKey(docId: string, name: string): string {
  return parseObjectKey(`${documentObjectsPrefix(docId)}${keySegment(name)}`);
}

/**
 * Prefix of every object of a document: deleting the document deletes this
 * prefix (the same as src/documents' documentObjectPrefix).
 * @throws ProtocolError `invalid-id` for an id no actor can have.
 */
export function documentObjectsPrefix(docId: string): string {
  return `docs/${idToToken(parseActorId(docId))}/`;
}
