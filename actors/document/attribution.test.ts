/**
 * Attribution and revert on plain Y.Docs: a server document recording who
 * wrote what as it applies clients' updates, the spans it reports, its
 * record round trip, and reverting a job's edits as one update that every
 * replica converges to.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as Y from 'yjs';
import type { AttributedRoot } from '../../protocol/doc.ts';
import { AttributionRecord } from './attribution-record.ts';
import { attributedRoots } from './attribution-spans.ts';
import { Attribution } from './attribution.ts';
import { renderContent } from './content.ts';
import { planRevert } from './revert.ts';
import { blocksText, editBlocks } from './text-blocks.ts';

const ALICE = 'user:alice';
const BOB = 'user:bob';
const JOB = 'job:job_1';

/** A server document with attribution, and clients whose updates reach it under an author. */
function room() {
  const attribution = new Attribution();
  const server = attribution.createDoc();
  const clients: Y.Doc[] = [];
  const apply = (author: string | undefined, update: Uint8Array) => {
    attribution.as(author, () => Y.applyUpdate(server, update));
    for (const c of clients) Y.applyUpdate(c, update);
  };
  const client = (author: string | undefined) => {
    const doc = new Y.Doc();
    Y.applyUpdate(doc, Y.encodeStateAsUpdate(server));
    clients.push(doc);
    const outbox: Uint8Array[] = [];
    doc.on('update', (u: Uint8Array, origin: unknown) => {
      if (origin !== 'server') outbox.push(u);
    });
    /** Sends what this client did since the last send. */
    const send = () => {
      for (const u of outbox.splice(0)) {
        attribution.as(author, () => Y.applyUpdate(server, u));
        for (const other of clients) if (other !== doc) Y.applyUpdate(other, u, 'server');
      }
    };
    return { doc, send };
  };
  const spans = (name = 't') => (attributedRoots(server, attribution)[name] as AttributedRoot).spans;
  return { attribution, server, clients, apply, client, spans };
}

test('each insertion is attributed to the author whose update brought it; no header reads unknown', () => {
  const r = room();
  const alice = r.client(ALICE);
  const job = r.client(JOB);
  const anon = r.client(undefined);
  alice.doc.getText('t').insert(0, 'Hello ');
  alice.send();
  job.doc.getText('t').insert(6, 'world');
  job.send();
  anon.doc.getText('t').insert(11, '!');
  anon.send();
  assert.deepEqual(r.spans(), [
    { text: 'Hello ', author: ALICE },
    { text: 'world', author: JOB },
    { text: '!', author: 'unknown' },
  ]);
});

test('a re-sent update keeps its first author', () => {
  const r = room();
  const job = new Y.Doc();
  job.getText('t').insert(0, 'by the job');
  const update = Y.encodeStateAsUpdate(job);
  r.apply(JOB, update);
  r.apply(BOB, update);
  assert.deepEqual(r.spans(), [{ text: 'by the job', author: JOB }]);
});

test("spans of a ProseMirror-style XML root concatenate to the root's text, block breaks owned by the block's author", () => {
  const r = room();
  const alice = r.client(ALICE);
  const job = r.client(JOB);
  const para = (text: string) => {
    const p = new Y.XmlElement('paragraph');
    const t = new Y.XmlText();
    t.insert(0, text);
    p.insert(0, [t]);
    return p;
  };
  alice.doc.getXmlFragment('pm').insert(0, [para('First line.')]);
  alice.send();
  job.doc.getXmlFragment('pm').insert(1, [para('Generated.')]);
  job.send();
  const text = renderContent(r.server).roots.pm;
  assert.ok(text);
  assert.deepEqual(r.spans('pm'), [
    { text: 'First line.', author: ALICE },
    { text: '\nGenerated.', author: JOB },
  ]);
  assert.equal(r.spans('pm').map((s) => s.text).join(''), renderContent(r.server).text);
});

test('reverting a job removes its text, restores what it deleted of a person, keeps concurrent edits, and every replica converges', () => {
  const r = room();
  const alice = r.client(ALICE);
  const job = r.client(JOB);
  alice.doc.getText('t').insert(0, 'Keep this. Drop this sentence. End.');
  alice.send();
  // The job replaces a person's sentence with its own, while the person types inside the job's text.
  job.doc.getText('t').delete(11, 20);
  job.doc.getText('t').insert(11, 'Generated words here. ');
  job.send();
  const at = alice.doc.getText('t').toString().indexOf('words');
  alice.doc.getText('t').insert(at, 'ALICE ');
  alice.send();
  assert.equal(r.server.getText('t').toString(), 'Keep this. Generated ALICE words here. End.');

  const plan = planRevert(r.server, r.attribution, JOB, BOB);
  assert.ok(plan);
  assert.equal(plan.removed, 'Generated words here. '.length);
  assert.equal(plan.restored, 'Drop this sentence. '.length);
  r.attribution.withRecord(plan.record, () => Y.applyUpdate(r.server, plan.update));
  for (const c of r.clients) Y.applyUpdate(c, plan.update);
  const result = r.server.getText('t').toString();
  for (const doc of r.clients) assert.equal(doc.getText('t').toString(), result);
  // Where the person's concurrent word lands beside the restored sentence depends on client ids, as for any concurrent insert.
  assert.ok(result.includes('ALICE '), result);
  assert.equal(result.replace('ALICE ', ''), 'Keep this. Drop this sentence. End.');
  // The restored sentence is the person's again; nothing is left of the job.
  assert.deepEqual(r.spans(), [{ text: result, author: ALICE }]);
  // Nothing left to revert: a second revert changes nothing (the sentence is not restored twice).
  assert.equal(planRevert(r.server, r.attribution, JOB, BOB), null);
});

test('in an XML root, reverting an agent removes its paragraphs and characters, restores what it deleted, and keeps the text a person typed into its paragraph', () => {
  const r = room();
  const alice = r.client(ALICE);
  const agent = r.client('agent:s1');
  const text = (doc: Y.Doc) => blocksText(doc.getXmlFragment('pm'));
  editBlocks(alice.doc.getXmlFragment('pm'), 0, 0, 'Keep this. Drop this sentence.\nEnd.');
  alice.send();
  // The agent replaces the sentence with two paragraphs of its own (the paragraph's tail moves into the last one).
  const fragment = agent.doc.getXmlFragment('pm');
  editBlocks(fragment, text(agent.doc).indexOf('Drop'), 'Drop this sentence.'.length, 'Generated\nwords\nhere.');
  agent.send();
  assert.equal(text(r.server), 'Keep this. Generated\nwords\nhere.\nEnd.');
  // The person types into the agent's middle paragraph.
  editBlocks(alice.doc.getXmlFragment('pm'), text(alice.doc).indexOf('words'), 0, 'ALICE ');
  alice.send();
  assert.equal(r.spans('pm').map((span) => span.text).join(''), text(r.server), 'spans concatenate to the text');

  const plan = planRevert(r.server, r.attribution, 'agent:s1', BOB);
  assert.ok(plan);
  r.attribution.withRecord(plan.record, () => Y.applyUpdate(r.server, plan.update));
  for (const c of r.clients) Y.applyUpdate(c, plan.update);
  const result = text(r.server);
  for (const doc of r.clients) assert.equal(text(doc), result, 'every replica converges');
  assert.ok(result.includes('ALICE '), `the person's words stay: ${JSON.stringify(result)}`);
  assert.equal(result.replace('ALICE ', ''), 'Keep this. Drop this sentence.\n\nEnd.', 'the agent\'s text is gone, the sentence is back; the paragraph holding the person\'s words stays');
  assert.equal(planRevert(r.server, r.attribution, 'agent:s1', BOB), null, 'nothing is left to revert');
});

test("content a job deleted is kept from garbage collection, a person's deletions are not", () => {
  const r = room();
  const alice = r.client(ALICE);
  const job = r.client(JOB);
  alice.doc.getText('t').insert(0, 'aaaa bbbb');
  alice.send();
  job.doc.getText('t').delete(0, 5);
  job.send();
  alice.doc.getText('t').delete(0, 4);
  alice.send();
  const kept: string[] = [];
  let collected = 0;
  for (const s of r.server.store.clients.get(alice.doc.clientID) ?? []) {
    if (!(s instanceof Y.Item) || !s.deleted) continue;
    if (s.content instanceof Y.ContentString) kept.push(s.content.str);
    else collected += s.length;
  }
  assert.deepEqual(kept, ['aaaa ']);
  assert.equal(collected, 4);
});

test('the record round-trips: an attribution rebuilt from it reports the same spans and reverts the same way', () => {
  const r = room();
  const alice = r.client(ALICE);
  const job = r.client(JOB);
  alice.doc.getText('t').insert(0, 'one two three');
  alice.send();
  job.doc.getText('t').delete(4, 4);
  job.doc.getText('t').insert(0, 'JOB ');
  job.send();
  const bytes = r.attribution.toRecord().encode();
  const again = new Attribution();
  const doc = again.createDoc();
  again.withRecord(AttributionRecord.decode(bytes), () => Y.applyUpdate(doc, Y.encodeStateAsUpdate(r.server)));
  assert.deepEqual(attributedRoots(doc, again), attributedRoots(r.server, r.attribution));
  const plan = planRevert(doc, again, JOB, BOB);
  assert.ok(plan);
  again.withRecord(plan.record, () => Y.applyUpdate(doc, plan.update));
  assert.equal(doc.getText('t').toString(), 'one two three');
  assert.throws(() => AttributionRecord.decode(bytes.subarray(0, bytes.length - 1)), /truncated or malformed/);
  assert.throws(() => AttributionRecord.decode(new Uint8Array([9, 0])), /truncated or malformed/);
});

test('reverting an author with nothing recorded plans nothing', () => {
  const r = room();
  const alice = r.client(ALICE);
  alice.doc.getText('t').insert(0, 'hi');
  alice.send();
  assert.equal(planRevert(r.server, r.attribution, 'agent:nobody', BOB), null);
});
