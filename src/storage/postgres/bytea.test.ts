/** Unit tests for the bytea read normalisation; no database needed. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ByteaDecodeError, toPlainBytes } from './bytea.ts';

describe('toPlainBytes', () => {
  it('returns an owning plain Uint8Array as it is', () => {
    const bytes = new Uint8Array([1, 2, 3]);
    assert.equal(toPlainBytes(bytes), bytes);
  });

  it('copies a Buffer from the shared pool into a plain Uint8Array of its own', () => {
    const pooled = Buffer.from('0a0b0c', 'hex'); // small Buffers are slices of an 8 KiB pool
    const out = toPlainBytes(pooled);
    assert.equal(Object.getPrototypeOf(out), Uint8Array.prototype);
    assert.equal(out.buffer.byteLength, 3);
    assert.deepEqual([...out], [10, 11, 12]);
  });

  it('copies a view into a larger Uint8Array', () => {
    const view = new Uint8Array([9, 1, 2, 9]).subarray(1, 3);
    const out = toPlainBytes(view);
    assert.equal(out.buffer.byteLength, 2);
    assert.deepEqual([...out], [1, 2]);
  });

  it("decodes PostgreSQL's hex text output", () => {
    assert.deepEqual([...toPlainBytes('\\x00ff10')], [0, 255, 16]);
    assert.equal(toPlainBytes('\\x').byteLength, 0);
  });

  it('rejects anything else', () => {
    assert.throws(() => toPlainBytes(42), ByteaDecodeError);
    assert.throws(() => toPlainBytes('plain text'), ByteaDecodeError);
  });
});
