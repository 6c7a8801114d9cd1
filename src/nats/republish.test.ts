/**
 * Republish rules on streams that may predate them, against a real
 * nats-server: a rule is recognised only when source, destination and
 * headers-only all match; a stream with another rule keeps it; a stream
 * without one gets it where the server allows (2.10+), and the answer says
 * which (nats-server 2.9 refuses).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { pino } from 'pino';
import { startNatsServer, type NatsServerHandle } from '../testing/index.ts';
import { ensureRepublish, sameRepublish, streamRepublishes } from './republish.ts';

const log = pino({ level: 'silent' });
const RULE = { src: 'work.*', dest: 'ring.{{wildcard(1)}}', headers_only: true } as const;
let server: NatsServerHandle;
let nc: NatsConnection;
let jsm: JetStreamManager;

before(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
  jsm = await jetstreamManager(nc);
});
after(async () => {
  await nc.close();
  await server.dispose();
});

test('a rule matches only with the same source, destination and headers-only', () => {
  assert.equal(sameRepublish(undefined, RULE), false);
  assert.equal(sameRepublish({ ...RULE }, RULE), true);
  assert.equal(sameRepublish({ src: RULE.src, dest: RULE.dest }, RULE), false, 'a rule that republishes bodies is another rule');
  assert.equal(sameRepublish({ ...RULE, dest: 'ring.other.{{wildcard(1)}}' }, RULE), false);
  assert.equal(sameRepublish({ src: 'log.*', dest: 'event.{{wildcard(1)}}' }, { src: 'log.*', dest: 'event.{{wildcard(1)}}' }), true, 'headers-only absent on both sides');
});

test('a stream made with the rule has it; one made without gets it only where the server can add it', async () => {
  await jsm.streams.add({ name: 'WITH_RULE', subjects: ['work.*'], republish: { ...RULE } });
  assert.equal(await streamRepublishes(jsm, 'WITH_RULE', RULE), true);
  assert.equal(await ensureRepublish(jsm, 'WITH_RULE', RULE, log, 'test'), true);

  await jsm.streams.add({ name: 'WITHOUT_RULE', subjects: ['other.*'] });
  const rule = { src: 'other.*', dest: 'rang.{{wildcard(1)}}', headers_only: true };
  const added = await ensureRepublish(jsm, 'WITHOUT_RULE', rule, log, 'test');
  // The answer is the server's: 2.9 refuses to change RePublish, 2.10+ adds it.
  assert.equal(added, await streamRepublishes(jsm, 'WITHOUT_RULE', rule));
});

test('a stream with another rule keeps it, and the caller is told the rule is not there', async () => {
  const other = { src: 'third.*', dest: 'elsewhere.{{wildcard(1)}}' };
  await jsm.streams.add({ name: 'OTHER_RULE', subjects: ['third.*'], republish: other });
  const wanted = { src: 'third.*', dest: 'rung.{{wildcard(1)}}', headers_only: true };
  assert.equal(await ensureRepublish(jsm, 'OTHER_RULE', wanted, log, 'test'), false);
  const kept = (await jsm.streams.info('OTHER_RULE')).config.republish;
  assert.deepEqual({ src: kept?.src, dest: kept?.dest }, other);
});
