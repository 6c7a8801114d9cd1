/**
 * publishToStream against a real nats-server: a message lands in the stream
 * capturing its subject, a repeat of its id is acknowledged as a duplicate
 * and not stored again, and a subject no stream captures is an error.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { startNatsServer, type NatsServerHandle } from '../testing/index.ts';
import { publishToStream } from './jetstream-publish.ts';
import { RequestMux } from './request-mux.ts';

let server: NatsServerHandle;
let nc: NatsConnection;
let jsm: JetStreamManager;
let mux: RequestMux;

before(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
  jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: 'PUBLISH_TEST', subjects: ['publish-test.>'] });
  mux = new RequestMux(nc);
});

after(async () => {
  mux.close();
  await nc.close();
  await server.dispose();
});

test('a message lands once per id; a repeat is acknowledged as a duplicate', async () => {
  const body = new TextEncoder().encode('{"task":1}');
  const first = await publishToStream(mux, 'publish-test.a', body, { timeoutMs: 5_000, msgId: 'task-1' });
  assert.deepEqual(first, { stream: 'PUBLISH_TEST', seq: 1, duplicate: false });
  const again = await publishToStream(mux, 'publish-test.a', body, { timeoutMs: 5_000, msgId: 'task-1' });
  assert.deepEqual(again, { stream: 'PUBLISH_TEST', seq: 1, duplicate: true });
  const other = await publishToStream(mux, 'publish-test.b', body, { timeoutMs: 5_000, msgId: 'task-2' });
  assert.equal(other.seq, 2);
  const stored = await jsm.streams.getMessage('PUBLISH_TEST', { seq: 1 });
  assert.equal(stored?.header.get('Nats-Msg-Id'), 'task-1');
  assert.equal((await jsm.streams.info('PUBLISH_TEST')).state.messages, 2);
});

test('a subject no stream captures is an error', async () => {
  await assert.rejects(publishToStream(mux, 'nobody-captures.this', new Uint8Array(1), { timeoutMs: 5_000 }), /no stream captures nobody-captures\.this/);
});
