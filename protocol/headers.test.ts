import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HEADERS, JETSTREAM_HEADERS, updateEventSeqs } from './headers.ts';

const from = (h: Record<string, string>) => ({ get: (name: string) => h[name] });

test('an update event stands where its publisher says: the actor\'s headers, else the log stream\'s', () => {
  assert.deepEqual(updateEventSeqs(from({ [HEADERS.seq]: '7', [HEADERS.prevSeq]: '5' })), { seq: '7', prev: '5' });
  assert.deepEqual(updateEventSeqs(from({ [JETSTREAM_HEADERS.sequence]: '9', [JETSTREAM_HEADERS.lastSequence]: '7' })), { seq: '9', prev: '7' });
  // nats.js reports an absent header as '': that is not a sequence.
  assert.deepEqual(updateEventSeqs(from({ [HEADERS.seq]: '', [JETSTREAM_HEADERS.sequence]: '4', [JETSTREAM_HEADERS.lastSequence]: '0' })), { seq: '4', prev: '0' });
  // A head event: the actor's sequence, no previous one.
  assert.deepEqual(updateEventSeqs(from({ [HEADERS.seq]: '3' })), { seq: '3', prev: undefined });
  assert.deepEqual(updateEventSeqs(from({})), { seq: undefined, prev: undefined });
});
