/**
 * The outbound-events stream against a real nats-server: created once, a
 * second call (another process starting) leaves it alone, a stream with
 * other settings is updated in place, and a duplicate event id is collapsed.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { OUTBOUND_EVENTS_STREAM, outboundEventSubject } from '../../protocol/outbound-events.ts';
import { startNatsServer, type NatsServerHandle } from '../testing/index.ts';
import { ensureOutboundEventsStream, OUTBOUND_EVENTS_MAX_AGE_MS } from './outbound-stream.ts';

let nats: NatsServerHandle;
let nc: NatsConnection;
let jsm: JetStreamManager;

before(async () => {
  nats = await startNatsServer();
  nc = await connect({ servers: nats.url });
  jsm = await jetstreamManager(nc);
});
after(async () => {
  await nc.close();
  await nats.dispose();
});

test('the stream is created, then found unchanged by a second caller with a client instead of a manager', async () => {
  const first = await ensureOutboundEventsStream(jsm);
  assert.deepEqual(first.config.subjects, ['events.out.>']);
  assert.equal(first.config.max_age, OUTBOUND_EVENTS_MAX_AGE_MS * 1_000_000);
  const second = await ensureOutboundEventsStream(jetstream(nc));
  assert.equal(second.created, first.created);
});

test('a stream left with other settings is updated in place', async () => {
  await ensureOutboundEventsStream(jsm);
  await jsm.streams.update(OUTBOUND_EVENTS_STREAM, { max_age: 3_600 * 1_000_000_000 });
  const fixed = await ensureOutboundEventsStream(jsm);
  assert.equal(fixed.config.max_age, OUTBOUND_EVENTS_MAX_AGE_MS * 1_000_000);
});

test('an event recorded twice under the same id is stored once', async () => {
  await ensureOutboundEventsStream(jsm);
  const js = jetstream(nc);
  const subject = outboundEventSubject('webhook.test');
  const before = (await jsm.streams.info(OUTBOUND_EVENTS_STREAM)).state.messages;
  await js.publish(subject, '{}', { msgID: 'evt-dup-1' });
  const again = await js.publish(subject, '{}', { msgID: 'evt-dup-1' });
  assert.equal(again.duplicate, true);
  assert.equal((await jsm.streams.info(OUTBOUND_EVENTS_STREAM)).state.messages, before + 1);
});
