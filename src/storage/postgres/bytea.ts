/**
 * A drizzle column type for PostgreSQL `bytea`, which drizzle does not ship.
 * The two drivers disagree on what they hand back: `pg` parses bytea into a
 * Node Buffer (often a slice of Node's shared allocation pool), PGlite into a
 * Uint8Array. Reads are normalised to a plain Uint8Array that owns its memory,
 * so callers never see a Buffer's methods or another value's bytes through
 * `.buffer`. Writes pass the bytes through: both drivers accept Uint8Array.
 */
import { customType } from 'drizzle-orm/pg-core';

/** Thrown when the driver returns something that is not bytea data; a bug or a misconfigured type parser. */
export class ByteaDecodeError extends Error {
  override readonly name = 'ByteaDecodeError';
  readonly code = 'bytea-decode';
}

/**
 * Converts whatever a driver returned for a bytea value into a plain
 * Uint8Array. Accepts Buffer/Uint8Array and, defensively, PostgreSQL's text
 * `hex` output (`\x0a0b...`) in case a caller turned off the driver's parser.
 * @throws ByteaDecodeError for any other value.
 */
export function toPlainBytes(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) {
    const owned =
      Object.getPrototypeOf(value) === Uint8Array.prototype &&
      value.byteOffset === 0 &&
      value.byteLength === value.buffer.byteLength;
    // Copy when the bytes are a Buffer or a view into a larger allocation.
    return owned ? value : new Uint8Array(value);
  }
  if (typeof value === 'string' && value.startsWith('\\x') && value.length % 2 === 0) {
    return new Uint8Array(Buffer.from(value.slice(2), 'hex'));
  }
  throw new ByteaDecodeError(`expected bytea data from the driver, got ${typeof value}`);
}

/** `bytea` column whose TypeScript type is Uint8Array on both drivers. */
export const bytea = customType<{ data: Uint8Array; driverData: Uint8Array }>({
  dataType: () => 'bytea',
  toDriver: (value) => value,
  fromDriver: (value: unknown) => toPlainBytes(value),
});
