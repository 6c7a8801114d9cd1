/**
 * Validation shared by the adapters for what accompanies a key: content
 * types, user metadata and presign lifetimes. Both adapters refuse the same
 * inputs, so the contract suite can hold them to one behaviour.
 */
import { InvalidObjectRequestError } from './object-store-error.ts';

/** S3's limit for presigned URLs, and ours for gateway URLs. */
export const MAX_PRESIGN_TTL_S = 7 * 24 * 3600;
/** Metadata budget (keys + values), below S3's 2 KiB header allowance. */
export const MAX_METADATA_BYTES = 2_048;

const TOKEN = "[A-Za-z0-9!#$&^_.+'*`|~-]+";
/** RFC 9110 quoted-string: no bare quote or backslash inside. Allowing `"` there made the parameter list ambiguous, and a 158-character value backtracked for 10 s. */
const QUOTED = '"(?:[\\x20\\x21\\x23-\\x5b\\x5d-\\x7e]|\\\\[\\x20-\\x7e])*"';
/** type/subtype with parameters; src/regular-expressions.test.ts holds it to linear time. */
export const CONTENT_TYPE = new RegExp(`^${TOKEN}/${TOKEN}(\\s*;\\s*${TOKEN}=(${QUOTED}|${TOKEN}))*$`);
const METADATA_KEY = /^[a-z0-9][a-z0-9-]{0,63}$/;
const PRINTABLE = /^[\x20-\x7e]*$/;

/** Names S3 reports beside user metadata; a user key spelled like one could not be told apart on read. */
export const RESERVED_METADATA_KEYS: ReadonlySet<string> = new Set([
  'content-type',
  'cache-control',
  'content-encoding',
  'content-disposition',
  'content-language',
  'if-none-match',
  'if-match',
  'x-amz-website-redirect-location',
  'x-amz-storage-class',
]);

/**
 * Checks a Content-Type value (type/subtype with optional parameters, printable, <= 255 chars).
 * @throws InvalidObjectRequestError
 */
export function checkContentType(contentType: string): string {
  if (contentType.length === 0 || contentType.length > 255 || !CONTENT_TYPE.test(contentType)) {
    throw new InvalidObjectRequestError(`not a usable content type: ${JSON.stringify(contentType.slice(0, 80))}`);
  }
  return contentType;
}

/**
 * Checks user metadata: keys lowercase `[a-z0-9-]` (<= 64), values printable ASCII, 2 KiB in all.
 * @throws InvalidObjectRequestError
 */
export function checkMetadata(metadata: Readonly<Record<string, string>> | undefined): Readonly<Record<string, string>> {
  if (metadata === undefined) return {};
  let bytes = 0;
  for (const [key, value] of Object.entries(metadata)) {
    if (!METADATA_KEY.test(key)) throw new InvalidObjectRequestError(`metadata key ${JSON.stringify(key.slice(0, 80))} must be lowercase [a-z0-9-], at most 64 chars`);
    if (RESERVED_METADATA_KEYS.has(key) || key.startsWith('x-amz-')) throw new InvalidObjectRequestError(`metadata key ${key} is reserved`);
    if (typeof value !== 'string' || !PRINTABLE.test(value)) throw new InvalidObjectRequestError(`metadata value of ${key} must be printable ASCII`);
    bytes += key.length + value.length;
  }
  if (bytes > MAX_METADATA_BYTES) throw new InvalidObjectRequestError(`metadata is larger than ${MAX_METADATA_BYTES} bytes`);
  return { ...metadata };
}

/**
 * Checks a presign lifetime in whole seconds.
 * @throws RangeError outside 1 .. 7 days.
 */
export function checkTtl(ttlS: number): number {
  if (!Number.isInteger(ttlS) || ttlS < 1 || ttlS > MAX_PRESIGN_TTL_S) {
    throw new RangeError(`presign ttl must be an integer from 1 to ${MAX_PRESIGN_TTL_S} seconds, got ${ttlS}`);
  }
  return ttlS;
}

/**
 * Checks a byte limit.
 * @throws RangeError unless a positive safe integer.
 */
export function checkMaxBytes(maxBytes: number): number {
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) throw new RangeError(`maxBytes must be a non-negative integer, got ${maxBytes}`);
  return maxBytes;
}
