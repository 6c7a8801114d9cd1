/**
 * FencedSubjectLog on a real nats-server: an append rides through the
 * server going away and coming back (no leader to take it, then a new
 * connection), lands exactly once, and a stale expected sequence is still
 * refused as a fence.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import { startNatsServer, type NatsServerHandle } from '../testing/index.ts';
import { FencedSubjectLog } from './fenced-subject-log.ts';

const log = pino({ level: 'silent' });
const STREAM = `FENCED_${Date.now()}`;
let server: NatsServerHandle;
let nc: NatsConnection;
let jsm: JetStreamManager;
let subjectLog: FencedSubjectLog;

class Fenced extends Error {}

before(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: STREAM, subjects: [`${STREAM}.>`] });
  subjectLog = new FencedSubjectLog(nc, jsm, { stream: STREAM, timeoutMs: 1_000, logger: log });
});
after(async () => {
  await nc.close();
  await server.dispose();
});

const target = (name: string) => ({ subject: `${STREAM}.${name}`, label: name, bindings: {} });
const fenced = (cause: Error) => new Fenced('fenced', { cause });

test('an append made while the server is down lands exactly once when it is back', async () => {
  const first = await subjectLog.append(target('a'), new TextEncoder().encode('one'), 0, fenced);
  await server.kill();
  // Retried (not sent, no ack, no stream) until the server is back.
  const pending = subjectLog.append(target('a'), new TextEncoder().encode('two'), first, fenced);
  await server.start();
  const second = await pending;
  assert.ok(second > first);
  const entries = [];
  for await (const e of subjectLog.readAfter(target('a'), 0)) entries.push(new TextDecoder().decode(e.data));
  assert.deepEqual(entries, ['one', 'two']);
});

test('an append behind another writer is refused as a fence', async () => {
  const first = await subjectLog.append(target('b'), new TextEncoder().encode('mine'), 0, fenced);
  await subjectLog.append(target('b'), new TextEncoder().encode('theirs'), first, fenced);
  await assert.rejects(subjectLog.append(target('b'), new TextEncoder().encode('stale'), first, fenced), Fenced);
});
