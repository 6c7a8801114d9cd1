/** The doc.updated debounce as a pure state machine over change marks (no NATS needed). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseActorId, type DocId } from '../../protocol/ids.ts';
import { docChangeMarkSubject } from '../../protocol/subjects.ts';
import { createRootLogger } from '../log.ts';
import { DocUpdateSource } from './doc-update-source.ts';
import type { LogEntry } from './log-relay.ts';

const log = createRootLogger({ level: 'silent', instanceId: 'doc-update-source-test' });
/** Everyone but `orphan` has an owner and a member; each question (the documents asked about together) is kept. */
function audienceOf() {
  const asked: string[][] = [];
  return {
    asked,
    recipientsOf: async (docIds: readonly string[]) => {
      asked.push([...docIds]);
      return new Map(docIds.filter((d) => d !== 'orphan').map((d) => [d, ['owner-1', 'member-2']]));
    },
  };
}
const audience = audienceOf();

/** Where each document's log ends, moved by the test; reads counted. */
function tailOf(lastSeq: Map<string, number>) {
  const reads: string[] = [];
  return {
    reads,
    last: async (docId: DocId) => {
      reads.push(docId);
      const seq = lastSeq.get(docId);
      return seq === undefined ? null : { seq, storedAtMs: seq * 10 };
    },
  };
}

const mark = (docId: string, seq: number, storedAtMs: number): LogEntry => ({ subject: docChangeMarkSubject(parseActorId(docId)), seq, data: new Uint8Array(), headers: {}, storedAtMs });

test('marks inside one window make one doc.updated with the log\'s last seq, once the window has closed', async () => {
  const ends = new Map([['notes', 11]]);
  const tail = tailOf(ends);
  const source = new DocUpdateSource(audience, tail, 1_000, log);
  for (const [seq, at] of [[10, 0], [14, 300], [19, 900]] as const) assert.deepEqual(await source.onEntry(mark('notes', seq, at)), []);
  assert.equal(source.oldestHeldSeq(), 10, 'the cursor stays below the open window');
  assert.deepEqual(await source.due(999), []);
  assert.deepEqual(tail.reads, [], 'nothing read while the window is open');
  ends.set('notes', 42);
  const [event, ...rest] = await source.due(1_000);
  assert.equal(rest.length, 0);
  assert.equal(event?.type, 'doc.updated');
  assert.deepEqual(event?.data, { docId: 'notes', seq: 42, link: '/v1/docs/notes' }, 'the last update when the window closed');
  assert.equal(event?.timestamp, new Date(420).toISOString());
  assert.deepEqual(event?.ownerIds, ['owner-1', 'member-2']);
  assert.equal(event?.orderKey, 'doc:notes');
  assert.equal(source.oldestHeldSeq(), undefined);
});

test('a mark past the window ends it (a replay after a restart) and opens the next; the ended one closes at the next tick', async () => {
  const source = new DocUpdateSource(audience, tailOf(new Map([['notes', 15]])), 1_000, log);
  await source.onEntry(mark('notes', 10, 0));
  assert.deepEqual(await source.onEntry(mark('notes', 20, 5_000)), []);
  assert.equal(source.oldestHeldSeq(), 10, 'the ended window holds the cursor until its event is built');
  // A third mark far later (a replay runs ahead of the ticks): the two ended windows close as one.
  assert.deepEqual(await source.onEntry(mark('notes', 30, 9_000)), []);
  assert.equal(source.oldestHeldSeq(), 10);
  const closed = await source.due(9_000);
  assert.deepEqual(closed.map((e) => e.data.seq), [15]);
  assert.equal(source.oldestHeldSeq(), 30, 'only the open window is held now');
});

test('the same last update gives the same id (a re-recorded window is a duplicate); a later one gives another', async () => {
  const ends = new Map([['notes', 11]]);
  const a = new DocUpdateSource(audience, tailOf(ends), 1_000, log);
  const b = new DocUpdateSource(audience, tailOf(ends), 1_000, log);
  for (const s of [a, b]) await s.onEntry(mark('notes', 10, 0));
  const [first] = await a.due(2_000);
  const [again] = await b.due(2_000);
  assert.equal(first?.id, again?.id);
  ends.set('notes', 13);
  await a.onEntry(mark('notes', 12, 3_000));
  const [later] = await a.due(5_000);
  assert.notEqual(later?.id, first?.id);
});

test('a document nobody owns records nothing, costs no log read, and its window is dropped', async () => {
  const tail = tailOf(new Map([['orphan', 3]]));
  const source = new DocUpdateSource(audience, tail, 100, log);
  await source.onEntry(mark('orphan', 1, 0));
  assert.deepEqual(await source.due(1_000), []);
  assert.deepEqual(tail.reads, []);
  assert.equal(source.oldestHeldSeq(), undefined);
});

test('a document whose log is gone (deleted) records nothing', async () => {
  const source = new DocUpdateSource(audience, tailOf(new Map()), 100, log);
  await source.onEntry(mark('notes', 1, 0));
  assert.deepEqual(await source.due(1_000), []);
  assert.equal(source.oldestHeldSeq(), undefined);
});

test('an entry that is not a change mark is logged and passed over', async () => {
  const source = new DocUpdateSource(audience, tailOf(new Map()), 100, log);
  assert.deepEqual(await source.onEntry({ ...mark('notes', 1, 0), subject: 'log.doc.bm90ZXM' }), []);
  assert.equal(source.oldestHeldSeq(), undefined);
});

test('windows that close together ask for their audiences in one question', async () => {
  const asked = audienceOf();
  const tail = tailOf(new Map([['notes', 4], ['plans', 9], ['orphan', 2]]));
  const source = new DocUpdateSource(asked, tail, 1_000, log);
  await source.onEntry(mark('notes', 1, 0));
  await source.onEntry(mark('plans', 2, 100));
  await source.onEntry(mark('orphan', 3, 200));
  await source.onEntry(mark('later', 5, 900));
  // A mark found the notes window past its end: it waits for the tick too.
  await source.onEntry(mark('notes', 6, 1_200));
  const events = await source.due(1_500);
  assert.deepEqual(asked.asked, [['notes', 'plans', 'orphan']], 'one question for the three windows due, none for the open ones');
  assert.deepEqual(events.map((e) => [e.data.docId, e.data.seq]), [['notes', 4], ['plans', 9]]);
  assert.deepEqual(tail.reads, ['notes', 'plans'], 'the orphan costs no log read');
  assert.equal(source.oldestHeldSeq(), 5, 'the open windows still hold the cursor');
});
