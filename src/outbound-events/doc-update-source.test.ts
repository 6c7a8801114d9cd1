/** The doc.updated debounce as a pure state machine over log entries (no NATS needed). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createRootLogger } from '../log.ts';
import { DocUpdateSource } from './doc-update-source.ts';
import type { LogEntry } from './log-relay.ts';

const log = createRootLogger({ level: 'silent', instanceId: 'doc-update-source-test' });
const audience = { recipients: async (docId: string) => (docId === 'orphan' ? [] : ['owner-1', 'member-2']) };
const entry = (docId: string, seq: number, storedAtMs: number): LogEntry => ({ subject: `log.doc.${docId}`, seq, data: new Uint8Array(), headers: {}, storedAtMs });

test('updates inside one window make one doc.updated with the last seq, once the window has closed', async () => {
  const source = new DocUpdateSource(audience, 1_000, log);
  for (const [seq, at] of [[10, 0], [11, 300], [12, 900]] as const) assert.deepEqual(await source.onEntry(entry('notes', seq, at)), []);
  assert.equal(source.oldestHeldSeq(), 10, 'the cursor stays below the open window');
  assert.deepEqual(await source.due(999), []);
  const [event, ...rest] = await source.due(1_000);
  assert.equal(rest.length, 0);
  assert.equal(event?.type, 'doc.updated');
  assert.deepEqual(event?.data, { docId: 'notes', seq: 12, link: '/v1/docs/notes' });
  assert.deepEqual(event?.ownerIds, ['owner-1', 'member-2']);
  assert.equal(event?.orderKey, 'doc:notes');
  assert.equal(source.oldestHeldSeq(), undefined);
});

test('an update past the window closes it at once (a replay after a restart) and opens the next', async () => {
  const source = new DocUpdateSource(audience, 1_000, log);
  await source.onEntry(entry('notes', 10, 0));
  const [closed] = await source.onEntry(entry('notes', 20, 5_000));
  assert.equal(closed?.data.seq, 10);
  assert.equal(source.oldestHeldSeq(), 20);
});

test('the same window gives the same id (a re-recorded window is a duplicate); another last seq gives another', async () => {
  const a = new DocUpdateSource(audience, 1_000, log);
  const b = new DocUpdateSource(audience, 1_000, log);
  for (const s of [a, b]) {
    await s.onEntry(entry('notes', 10, 0));
    await s.onEntry(entry('notes', 11, 10));
  }
  const [first] = await a.due(2_000);
  const [again] = await b.due(2_000);
  assert.equal(first?.id, again?.id);
  await a.onEntry(entry('notes', 12, 3_000));
  const [later] = await a.due(5_000);
  assert.notEqual(later?.id, first?.id);
});

test('a document nobody owns records nothing, and its window is dropped', async () => {
  const source = new DocUpdateSource(audience, 100, log);
  await source.onEntry(entry('orphan', 1, 0));
  assert.deepEqual(await source.due(1_000), []);
  assert.equal(source.oldestHeldSeq(), undefined);
});
