/**
 * getStreamMessage against a real nats-server: the first message of a
 * subject, the next one after a sequence and the last one; null when the
 * subject has none; an error for a stream that does not exist.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { startNatsServer, type NatsServerHandle } from '../testing/index.ts';
import { RequestMux } from './request-mux.ts';
import { getStreamMessage } from './stream-message-get.ts';

let server: NatsServerHandle;
let nc: NatsConnection;
let mux: RequestMux;
const target = { apiPrefix: '$JS.API', stream: 'MSG_GET_TEST' };
const text = (data: Uint8Array | undefined) => (data === undefined ? undefined : new TextDecoder().decode(data));

before(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: target.stream, subjects: ['msg-get.>'] });
  const js = jetstream(nc);
  await js.publish('msg-get.a', 'a1');
  await js.publish('msg-get.b', 'b1');
  await js.publish('msg-get.a', 'a2');
  await js.publish('msg-get.a', '');
  mux = new RequestMux(nc);
});

after(async () => {
  mux.close();
  await nc.close();
  await server.dispose();
});

test('reads the first, the next after a sequence and the last message of a subject, empty bodies included', async () => {
  const first = await getStreamMessage(mux, target, { seq: 0, next_by_subj: 'msg-get.a' }, 5_000);
  assert.deepEqual({ ...first, data: text(first?.data) }, { subject: 'msg-get.a', seq: 1, data: 'a1' });
  const next = await getStreamMessage(mux, target, { seq: 2, next_by_subj: 'msg-get.a' }, 5_000);
  assert.deepEqual([next?.seq, text(next?.data)], [3, 'a2']);
  const last = await getStreamMessage(mux, target, { last_by_subj: 'msg-get.a' }, 5_000);
  assert.deepEqual([last?.seq, text(last?.data)], [4, '']);
});

test('answers null for a subject without messages and throws for a stream that does not exist', async () => {
  assert.equal(await getStreamMessage(mux, target, { seq: 0, next_by_subj: 'msg-get.none' }, 5_000), null);
  assert.equal(await getStreamMessage(mux, target, { seq: 5, next_by_subj: 'msg-get.a' }, 5_000), null);
  await assert.rejects(getStreamMessage(mux, { ...target, stream: 'NO_SUCH_STREAM' }, { last_by_subj: 'msg-get.a' }, 5_000), /STREAM\.MSG\.GET\.NO_SUCH_STREAM refused: .*\(10059\)/);
});
