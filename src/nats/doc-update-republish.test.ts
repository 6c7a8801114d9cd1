/**
 * The document log stream announces its own updates (DOC_UPDATE_REPUBLISH),
 * against a real nats-server: one event per stored entry on the document's
 * update subject, with the entry's sequences and origin; none for change
 * marks or fenced appends. A stream made before the rule, on a server that
 * cannot add it (nats-server 2.9), leaves the announcing to the actors.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { connect, type Msg, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import { pino } from 'pino';
import { FencingError } from '../../actors/document/ports.ts';
import { HEADERS, JETSTREAM_HEADERS } from '../../protocol/headers.ts';
import { parseActorId } from '../../protocol/ids.ts';
import { DOC_LOG_STREAM, DOC_LOG_SUBJECTS, eventSubject } from '../../protocol/subjects.ts';
import { startNatsServer, waitFor, type NatsServerHandle } from '../testing/index.ts';
import { JetStreamDocumentLog } from './jetstream-document-log.ts';
import { provisionNats } from './provision.ts';

const log = pino({ level: 'silent' });
let server: NatsServerHandle;
let nc: NatsConnection;

before(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
});
after(async () => {
  await nc.close();
  await server.dispose();
});

test('a new document log announces each stored update once, with its sequences, origin and author; marks and fenced appends announce nothing', async () => {
  const provisioned = await provisionNats(nc, { leaseTtlMs: 5_000, logger: log });
  assert.equal(provisioned.docLogAnnouncesUpdates, true);
  const docLog = new JetStreamDocumentLog(nc, provisioned.jsm, { timeoutMs: 5_000, logger: log, docDebounceMs: 0, announcesUpdates: true });
  assert.equal(docLog.announcesUpdates, true);
  const id = parseActorId('announced/doc 1');
  const events: Msg[] = [];
  const sub = nc.subscribe(`event.doc.>`, { callback: (_err, msg) => void events.push(msg) });
  await nc.flush();
  const first = await docLog.append(id, new Uint8Array([1]), 0, { author: 'user:u1', origin: 'conn-1' });
  const second = await docLog.append(id, new Uint8Array([2, 3]), first, { author: 'user:u2' });
  await assert.rejects(docLog.append(id, new Uint8Array([9]), first, { origin: 'conn-stale' }), FencingError);
  await waitFor(() => events.length >= 2, { what: 'two update events' });
  await nc.flush();
  await new Promise((resolve) => setTimeout(resolve, 100));
  sub.unsubscribe();
  // Every write above stored a change mark too (zero window): none of them is an event.
  assert.deepEqual(events.map((m) => m.subject), [eventSubject('doc', id, 'update'), eventSubject('doc', id, 'update')]);
  const [a, b] = events as [Msg, Msg];
  assert.deepEqual([...a.data], [1]);
  assert.equal(a.headers?.get(JETSTREAM_HEADERS.sequence), String(first));
  assert.equal(a.headers?.get(JETSTREAM_HEADERS.lastSequence), '0');
  assert.equal(a.headers?.get(HEADERS.origin), 'conn-1');
  assert.equal(a.headers?.get(HEADERS.author), 'user:u1');
  assert.deepEqual([...b.data], [2, 3]);
  assert.equal(b.headers?.get(JETSTREAM_HEADERS.sequence), String(second));
  assert.equal(b.headers?.get(JETSTREAM_HEADERS.lastSequence), String(first), 'the entry before it on this document, marks between left out');
  assert.equal(b.headers?.get(HEADERS.origin), '');
  // The origin rides in the entry, but replay gives back only what the actor reads.
  const replayed = [];
  for await (const e of docLog.readAfter(id, 0)) replayed.push({ seq: e.seq, author: e.author });
  assert.deepEqual(replayed, [{ seq: first, author: 'user:u1' }, { seq: second, author: 'user:u2' }]);
});

test('a log stream made before the rule: the start says whether the server added it, and without it the actors announce', async () => {
  const other = await startNatsServer();
  const oc = await connect({ servers: other.url });
  try {
    const jsm = await jetstreamManager(oc);
    await jsm.streams.add({ name: DOC_LOG_STREAM, subjects: [DOC_LOG_SUBJECTS], retention: RetentionPolicy.Limits, storage: StorageType.File });
    const provisioned = await provisionNats(oc, { leaseTtlMs: 5_000, logger: log });
    const republish = (await jsm.streams.info(DOC_LOG_STREAM)).config.republish;
    // nats-server 2.9 refuses to change RePublish; later servers add it.
    assert.equal(provisioned.docLogAnnouncesUpdates, republish !== undefined);
    if (provisioned.docLogAnnouncesUpdates) return;
    const docLog = new JetStreamDocumentLog(oc, jsm, { timeoutMs: 5_000, logger: log, docDebounceMs: 60_000, announcesUpdates: false });
    const events: Msg[] = [];
    const sub = oc.subscribe('event.doc.>', { callback: (_err, msg) => void events.push(msg) });
    await oc.flush();
    const seq = await docLog.append(parseActorId('old-stream'), new Uint8Array([1]), 0, { origin: 'conn-1' });
    await oc.flush();
    await new Promise((resolve) => setTimeout(resolve, 100));
    sub.unsubscribe();
    assert.equal(events.length, 0, 'the stream announces nothing');
    const stored = await jsm.streams.getMessage(DOC_LOG_STREAM, { seq });
    assert.equal(stored?.header.get(HEADERS.origin), '', 'no origin is stored where nothing republishes it');
  } finally {
    await oc.close();
    await other.dispose();
  }
});
