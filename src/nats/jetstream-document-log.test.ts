/**
 * The document log's change marks against a real JetStream (harness
 * nats-server): stored before the update they announce, one per half
 * window, kept to the newest at compaction, gone with the document.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { JetStreamManager } from '@nats-io/jetstream';
import { pino } from 'pino';
import { parseActorId, type DocId } from '../../protocol/ids.ts';
import { DOC_LOG_STREAM, docChangeMarkSubject, docLogSubject } from '../../protocol/subjects.ts';
import { startNatsServer, type NatsServerHandle } from '../testing/index.ts';
import { JetStreamDocumentLog } from './jetstream-document-log.ts';
import { provisionNats } from './provision.ts';

const log = pino({ level: 'silent' });
let server: NatsServerHandle;
let nc: NatsConnection;
let jsm: JetStreamManager;

before(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
  jsm = (await provisionNats(nc, { leaseTtlMs: 5_000, logger: log })).jsm;
});
after(async () => {
  await nc.close();
  await server.dispose();
});

/** Stream sequences of the document's marks and updates, in order. */
async function entriesOf(id: DocId): Promise<{ marks: number[]; updates: number[] }> {
  const marks: number[] = [];
  const updates: number[] = [];
  const last = (await jsm.streams.info(DOC_LOG_STREAM)).state.last_seq;
  for (let seq = 1; seq <= last; seq++) {
    const msg = await jsm.streams.getMessage(DOC_LOG_STREAM, { seq }).catch(() => null);
    if (msg?.subject === docChangeMarkSubject(id)) marks.push(msg.seq);
    if (msg?.subject === docLogSubject(id)) updates.push(msg.seq);
  }
  return { marks, updates };
}

test('a window\'s first update is preceded by its mark; later updates of the window add none', async () => {
  const docLog = new JetStreamDocumentLog(nc, jsm, { timeoutMs: 5_000, logger: log, docDebounceMs: 60_000 });
  const id = parseActorId('marked-once');
  let seq = 0;
  for (let i = 0; i < 3; i++) seq = await docLog.append(id, new Uint8Array([i]), seq);
  const { marks, updates } = await entriesOf(id);
  assert.equal(updates.length, 3);
  assert.equal(marks.length, 1);
  assert.ok(marks[0]! < updates[0]!, `mark ${marks[0]} before the first update ${updates[0]}`);
  // The document's own log is the updates alone: reads and fencing never see a mark.
  assert.equal(await docLog.lastSeq(id), updates.at(-1));
  const replayed: number[] = [];
  for await (const entry of docLog.readAfter(id, 0)) replayed.push(entry.seq);
  assert.deepEqual(replayed, updates);
});

test('with a zero window every update has a mark of its own, each stored first', async () => {
  const docLog = new JetStreamDocumentLog(nc, jsm, { timeoutMs: 5_000, logger: log, docDebounceMs: 0 });
  const id = parseActorId('marked-always');
  let seq = 0;
  for (let i = 0; i < 3; i++) seq = await docLog.append(id, new Uint8Array([i]), seq);
  const { marks, updates } = await entriesOf(id);
  assert.equal(marks.length, 3);
  marks.forEach((m, i) => assert.ok(m < updates[i]!, `mark ${m} before update ${updates[i]}`));
});

test('compaction keeps the newest mark; deleting the document removes its marks', async () => {
  const docLog = new JetStreamDocumentLog(nc, jsm, { timeoutMs: 5_000, logger: log, docDebounceMs: 0 });
  const id = parseActorId('marked-compacted');
  let seq = 0;
  for (let i = 0; i < 4; i++) seq = await docLog.append(id, new Uint8Array([i]), seq);
  await docLog.truncateBefore(id, seq);
  const compacted = await entriesOf(id);
  assert.deepEqual(compacted.updates, [seq]);
  assert.equal(compacted.marks.length, 1);
  await docLog.remove(id);
  assert.deepEqual(await entriesOf(id), { marks: [], updates: [] });
});
