import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as Y from 'yjs';
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
  assert.deepEqual(again, { written: 0, chunks: 0 }, 'a completed write is a no-op');
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
