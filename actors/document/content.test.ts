import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as Y from 'yjs';
import { renderContent } from './content.ts';

/** What the server sees: roots arrive untyped through updates. */
function serverCopy(build: (doc: Y.Doc) => void): Y.Doc {
  const client = new Y.Doc();
  build(client);
  const server = new Y.Doc();
  Y.applyUpdate(server, Y.encodeStateAsUpdate(client));
  return server;
}

test('untyped roots are rendered by the type their content implies', () => {
  const doc = serverCopy((d) => {
    d.getText('body').insert(0, 'hello');
    d.getMap('meta').set('title', 'T');
    d.getArray('items').push([1, 'two']);
  });
  const { roots, text } = renderContent(doc);
  assert.deepEqual(roots.body, { type: 'text', value: 'hello' });
  assert.deepEqual(roots.meta, { type: 'map', value: { title: 'T' } });
  assert.deepEqual(roots.items, { type: 'array', value: [1, 'two'] });
  assert.equal(text, null, 'a document with a map is not a text document');
});

test('a prosemirror-style xml document yields plain text by paragraph', () => {
  const doc = serverCopy((d) => {
    const frag = d.getXmlFragment('default');
    const p1 = new Y.XmlElement('paragraph');
    p1.insert(0, [new Y.XmlText('first')]);
    const p2 = new Y.XmlElement('paragraph');
    p2.insert(0, [new Y.XmlText('second')]);
    frag.insert(0, [p1, p2]);
  });
  const { roots, text } = renderContent(doc);
  assert.equal(roots.default?.type, 'xml');
  assert.equal(text, 'first\nsecond');
});

test('rendering leaves the live document untyped and unchanged', () => {
  const doc = serverCopy((d) => d.getText('t').insert(0, 'x'));
  const before = Y.encodeStateAsUpdate(doc);
  renderContent(doc);
  assert.deepEqual(Y.encodeStateAsUpdate(doc), before);
  assert.equal(doc.share.get('t')?.constructor, Y.AbstractType);
});
