import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as encoding from 'lib0/encoding';
import { decodeAwarenessUpdate, encodeAwarenessUpdate } from './awareness.ts';
import { CollabFrameError, decodeCollabFrame, encodeAwarenessFrame, encodeSyncStep1, encodeSyncStep2, encodeUpdateFrame } from './collab.ts';
import { decodeSyncReply, encodeSyncReply } from './doc.ts';
import { closeReason, MAX_CLOSE_REASON_BYTES, ProtocolError } from './errors.ts';

const payload = new Uint8Array([1, 2, 3]);

test('y-websocket frames round-trip with the y-protocols numbering', () => {
  assert.deepEqual(decodeCollabFrame(encodeSyncStep1(payload)), { type: 'sync-step1', stateVector: payload });
  assert.deepEqual(decodeCollabFrame(encodeSyncStep2(payload)), { type: 'sync-step2', update: payload });
  assert.deepEqual(decodeCollabFrame(encodeUpdateFrame(payload)), { type: 'update', update: payload });
  assert.deepEqual(decodeCollabFrame(encodeAwarenessFrame(payload)), { type: 'awareness', update: payload });
  assert.deepEqual(decodeCollabFrame(new Uint8Array([3])), { type: 'query-awareness' });
  assert.deepEqual([...encodeSyncStep1(payload).subarray(0, 2)], [0, 0]);
});

test('malformed and unknown frames are told apart', () => {
  const reason = (frame: Uint8Array) => {
    try {
      decodeCollabFrame(frame);
    } catch (err) {
      assert.ok(err instanceof CollabFrameError);
      return err.reason;
    }
    return 'accepted';
  };
  assert.equal(reason(new Uint8Array([])), 'malformed');
  assert.equal(reason(new Uint8Array([0, 0, 10, 1])), 'malformed', 'length past the end');
  assert.equal(reason(new Uint8Array([0, 0, 1, 1, 99])), 'malformed', 'trailing bytes');
  assert.equal(reason(new Uint8Array([9])), 'unknown-type');
  assert.equal(reason(new Uint8Array([0, 7, 0])), 'unknown-type');
  assert.equal(reason(new Uint8Array([2, 0])), 'unknown-type', 'clients do not send auth');
});

test('sync replies round-trip and truncated ones are refused', () => {
  const reply = { update: payload, stateVector: new Uint8Array([0]), awareness: new Uint8Array(0), parts: 1, syncId: '' };
  assert.deepEqual(decodeSyncReply(encodeSyncReply(reply)), reply);
  assert.throws(() => decodeSyncReply(encodeSyncReply(reply).subarray(0, 3)), ProtocolError);
});

test('awareness updates are validated entry by entry', () => {
  const removal = encoding.createEncoder();
  encoding.writeVarUint(removal, 1);
  encoding.writeVarUint(removal, 7);
  encoding.writeVarUint(removal, 4);
  encoding.writeVarString(removal, 'null');
  assert.deepEqual(decodeAwarenessUpdate(encoding.toUint8Array(removal)), [{ clientId: 7, clock: 4, removed: true, state: 'null', stateBytes: 4 }]);
  const states = [{ clientId: 9, clock: 2, state: '{"name":"zoë"}' }, { clientId: 7, clock: 4, state: null }];
  assert.deepEqual(
    decodeAwarenessUpdate(encodeAwarenessUpdate(states)).map((s) => [s.clientId, s.clock, s.state, s.stateBytes]),
    [[9, 2, '{"name":"zoë"}', 15], [7, 4, 'null', 4]],
    'encode and decode invert each other; sizes are UTF-8 bytes',
  );
  const e = encoding.createEncoder();
  encoding.writeVarUint(e, 1);
  encoding.writeVarUint(e, 5);
  encoding.writeVarUint(e, 1);
  encoding.writeVarString(e, '{not json');
  assert.throws(() => decodeAwarenessUpdate(encoding.toUint8Array(e)), ProtocolError);
  const number = encoding.createEncoder();
  encoding.writeVarUint(number, 1);
  encoding.writeVarUint(number, 5);
  encoding.writeVarUint(number, 1);
  encoding.writeVarString(number, '42');
  assert.throws(() => decodeAwarenessUpdate(encoding.toUint8Array(number)), /not an object/);
});

test('close reasons are trimmed on a character boundary to fit a close frame', () => {
  const long = '文'.repeat(60);
  const trimmed = closeReason(long);
  assert.ok(Buffer.byteLength(trimmed) <= MAX_CLOSE_REASON_BYTES);
  assert.ok(trimmed.endsWith('...'));
  assert.ok(!trimmed.includes('\ufffd'), 'no broken character');
  assert.equal(closeReason('short'), 'short');
});
