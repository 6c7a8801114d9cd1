import { test } from 'node:test';
import assert from 'node:assert/strict';
import { apiPrefixOf } from '../nats/api-prefix.ts';
import { AckSubjectError, parseAckSubject } from './no-wait-pull.ts';

test('delivery count and stream sequence are read from both ack subject layouts', () => {
  assert.deepEqual(parseAckSubject('$JS.ACK.LOOM_INFERENCE.inference_m_batch.3.17.9.1795321003383872517.0'), { deliveryCount: 3, streamSequence: 17 });
  assert.deepEqual(parseAckSubject('$JS.ACK.hub.ACCHASH.LOOM_INFERENCE.inference_m_batch.2.40.11.1795321003383872517.5.xyz'), { deliveryCount: 2, streamSequence: 40 });
  for (const bad of ['_INBOX.abc', '$JS.ACK.S.C.x.1.1.1.0', '$JS.ACK.S.C.1']) assert.throws(() => parseAckSubject(bad), AckSubjectError, bad);
});

test('the pull goes to the API prefix of the manager, domain included', () => {
  assert.equal(apiPrefixOf({}), '$JS.API');
  assert.equal(apiPrefixOf({ domain: 'hub' }), '$JS.hub.API');
  assert.equal(apiPrefixOf({ apiPrefix: 'x.API' }), 'x.API');
});
