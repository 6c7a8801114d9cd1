/**
 * Reads an object body (bytes or a stream) as Buffers while counting and
 * hashing it, and stops with ObjectTooLargeError the moment it passes a byte
 * limit, so an oversized upload is refused while streaming, never buffered.
 */
import { createHash } from 'node:crypto';
import { ObjectTooLargeError, type ObjectBody } from '../../../actors/ports/index.ts';
import { InvalidObjectRequestError } from './object-store-error.ts';

/** A body being read: iterate `chunks` once; `size()` and `md5()` are final after the iteration ends. */
export interface MeteredBody {
  readonly chunks: AsyncIterable<Buffer>;
  /** Bytes seen so far. */
  size(): number;
  /** MD5 hex of the bytes seen (call once, after the iteration). */
  md5(): string;
}

/**
 * Wraps `body` for one pass.
 * @throws ObjectTooLargeError at once for bytes over `maxBytes`; a stream fails its iteration with it.
 */
export function meterBody(body: ObjectBody, key: string, maxBytes: number | undefined): MeteredBody {
  if (body instanceof Uint8Array && maxBytes !== undefined && body.byteLength > maxBytes) throw new ObjectTooLargeError(key, maxBytes);
  const hash = createHash('md5');
  let size = 0;
  async function* chunks(): AsyncGenerator<Buffer> {
    const source: Iterable<unknown> | AsyncIterable<unknown> = body instanceof Uint8Array ? [body] : body;
    for await (const chunk of source) {
      if (!(chunk instanceof Uint8Array)) throw new InvalidObjectRequestError(`object ${key}: the body stream must yield bytes, not ${typeof chunk}`);
      size += chunk.byteLength;
      if (maxBytes !== undefined && size > maxBytes) throw new ObjectTooLargeError(key, maxBytes);
      const buffer = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      hash.update(buffer);
      yield buffer;
    }
  }
  return { chunks: chunks(), size: () => size, md5: () => hash.digest('hex') };
}
