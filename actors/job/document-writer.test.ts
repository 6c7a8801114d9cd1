import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as Y from 'yjs';
import { blocksText } from '../document/index.ts';
import { chunkEnd, clientIdForJob, writeTextIdempotently } from './document-writer.ts';
import type { DocumentPort } from './ports.ts';

/** The document actor's side in miniature: one Y.Doc that answers sync and applies updates. */
class ServerDoc implements DocumentPort {
  readonly doc = new Y.Doc();
  updates = 0;
  failAfter = Infinity;
  readonly authors = new Set<string | undefined>();
  sync(_docId: string, stateVector: Uint8Array): Promise<Uint8Array> {
    return Promise.resolve(Y.encodeStateAsUpdate(this.doc, stateVector.length === 0 ? undefined : stateVector));
  }
  update(_docId: string, update: Uint8Array, _signal: AbortSignal, author?: string): Promise<void> {
    if (this.updates >= this.failAfter) return Promise.reject(new Error('host died'));
    this.updates++;
    this.authors.add(author);
    Y.applyUpdate(this.doc, update);
    return Promise.resolve();
  }
  text(root = 'body'): string {
    return this.doc.getText(root).toString();
  }
  /** An XML root's paragraphs, as TipTap shows them. */
  paragraphs(root = 'body'): string[] {
    return this.doc.getXmlFragment(root).toArray().map((p) => (p instanceof Y.XmlElement ? p.toArray().map(String).join('') : `<${String(p)}>`));
  }
}

/** An editor replica that exchanges everything with the server. */
function editorOf(server: ServerDoc): { doc: Y.Doc; sync: () => void } {
  const doc = new Y.Doc();
  const sync = () => {
    Y.applyUpdate(doc, Y.encodeStateAsUpdate(server.doc, Y.encodeStateVector(doc)));
    Y.applyUpdate(server.doc, Y.encodeStateAsUpdate(doc, Y.encodeStateVector(server.doc)));
  };
  return { doc, sync };
}

const signal = new AbortController().signal;
const opts = (text: string, offset = 0) => ({ docId: 'd', root: 'body', clientId: clientIdForJob('job-7'), author: 'job:job-7', offset, text, chunkChars: 8, signal });

test('text arrives in several small updates, in order', async () => {
  const server = new ServerDoc();
  const result = await writeTextIdempotently(server, opts('# Title\n\nThe first paragraph is here.\n'));
  assert.equal(server.text(), '# Title\n\nThe first paragraph is here.\n');
  assert.ok(result.chunks > 3 && server.updates === result.chunks);
  assert.deepEqual([...server.authors], ['job:job-7'], 'every update names the job as its author');
});

test('a rerun after a crash mid-write continues where the job stopped and never writes a character twice', async () => {
  const server = new ServerDoc();
  const text = 'Alpha beta gamma delta epsilon zeta eta theta.';
  server.failAfter = 2;
  await assert.rejects(writeTextIdempotently(server, opts(text)), /host died/);
  assert.ok(server.text().length > 0 && server.text().length < text.length);
  server.failAfter = Infinity;
  await writeTextIdempotently(server, opts(text));
  assert.equal(server.text(), text);
  const again = await writeTextIdempotently(server, opts(text));
  assert.deepEqual(again, { written: 0, chunks: 0, rootType: 'text' }, 'a completed write is a no-op');
  assert.equal(server.text(), text);
});

test('later writes continue after the job text even when an editor typed before, inside and after it', async () => {
  const server = new ServerDoc();
  const editor = new Y.Doc();
  const sync = () => {
    Y.applyUpdate(editor, Y.encodeStateAsUpdate(server.doc, Y.encodeStateVector(editor)));
    Y.applyUpdate(server.doc, Y.encodeStateAsUpdate(editor, Y.encodeStateVector(server.doc)));
  };
  editor.getText('body').insert(0, 'Editor note. ');
  sync();
  const first = 'Part one. ';
  await writeTextIdempotently(server, opts(first));
  sync();
  const t = editor.getText('body');
  t.insert(t.length, 'Trailing editor text.');
  t.insert('Editor note. Part'.length, '!');
  sync();
  await writeTextIdempotently(server, opts('Part two.', first.length));
  sync();
  assert.equal(server.text(), 'Editor note. Part! one. Part two.Trailing editor text.');
  assert.equal(editor.getText('body').toString(), server.text(), 'both replicas converge');
});

test('an XML root gets paragraphs: each line break starts one; a crash mid-write and a rerun write nothing twice', async () => {
  const server = new ServerDoc();
  const editor = editorOf(server);
  const p = new Y.XmlElement('paragraph');
  p.insert(0, [new Y.XmlText('Person text.')]);
  editor.doc.getXmlFragment('body').insert(0, [p, new Y.XmlElement('paragraph')]);
  editor.sync();
  const first = '# Title\n\nThe first paragraph is here.\n';
  server.failAfter = 3;
  await assert.rejects(writeTextIdempotently(server, opts(first)), /host died/);
  server.failAfter = Infinity;
  const done = await writeTextIdempotently(server, opts(first));
  assert.equal(done.rootType, 'xml', 'the root\'s content decides');
  assert.deepEqual(server.paragraphs(), ['Person text.', '# Title', '', 'The first paragraph is here.', ''], 'the job starts in the empty last paragraph');
  assert.deepEqual(await writeTextIdempotently(server, opts(first)), { written: 0, chunks: 0, rootType: 'xml' }, 'a completed write is a no-op');
  // A person types in the job's last paragraph and after the job's title; the next step continues after the job's text.
  editor.sync();
  const fragment = editor.doc.getXmlFragment('body');
  ((fragment.get(4) as Y.XmlElement).get(0) as Y.XmlText).insert(0, 'Typed by a person.');
  ((fragment.get(1) as Y.XmlElement).get(0) as Y.XmlText).insert('# Title'.length, '!');
  editor.sync();
  await writeTextIdempotently(server, opts('## Part 1\n\nBody.', first.length));
  editor.sync();
  // The person's words stay in the paragraph they typed them in, after the job's text there.
  assert.deepEqual(server.paragraphs(), ['Person text.', '# Title!', '', 'The first paragraph is here.', '## Part 1Typed by a person.', '', 'Body.']);
  assert.equal(blocksText(editor.doc.getXmlFragment('body')), blocksText(server.doc.getXmlFragment('body')), 'both replicas converge');
});

test('a new root is written as asked: xml gives paragraphs; a root of the other type is refused', async () => {
  const server = new ServerDoc();
  await writeTextIdempotently(server, { ...opts('One\nTwo'), rootType: 'xml' });
  assert.deepEqual(server.paragraphs(), ['One', 'Two']);
  await assert.rejects(writeTextIdempotently(server, { ...opts('x'), clientId: clientIdForJob('job-8'), rootType: 'text' }), /holds rich text \(XML\), not Y.Text/);
});

test('a write step whose predecessor is incomplete refuses to write', async () => {
  const server = new ServerDoc();
  await assert.rejects(writeTextIdempotently(server, opts('second', 10)), /earlier write is incomplete/);
  assert.equal(server.text(), '');
});

test('chunks end after line breaks or spaces and never split a surrogate pair', () => {
  assert.equal(chunkEnd('ab cd\nef gh', 0, 8), 6);
  assert.equal(chunkEnd('abc def', 0, 5), 4);
  assert.equal(chunkEnd('abcd😀xyz', 0, 5), 4);
  assert.equal(chunkEnd('short', 0, 100), 5);
});

test('job client ids are stable, 32-bit and non-zero', () => {
  assert.equal(clientIdForJob('j1'), clientIdForJob('j1'));
  assert.notEqual(clientIdForJob('j1'), clientIdForJob('j2'));
  for (const id of ['', 'x', 'a'.repeat(300)]) {
    const c = clientIdForJob(id);
    assert.ok(Number.isInteger(c) && c > 0 && c <= 0xffff_ffff);
  }
});
