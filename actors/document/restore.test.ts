import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as Y from 'yjs';
import { renderContent } from './content.ts';
import { restoreUpdate } from './restore.ts';

/** A client editing, and the server's untyped copy of what it sent. */
function replicas(): { client: Y.Doc; server: () => Y.Doc } {
  const client = new Y.Doc();
  return {
    client,
    server: () => {
      const s = new Y.Doc();
      Y.applyUpdate(s, Y.encodeStateAsUpdate(client));
      return s;
    },
  };
}

function paragraph(text: string, attrs?: Record<string, unknown>): Y.XmlElement {
  const p = new Y.XmlElement('paragraph');
  const t = new Y.XmlText();
  t.insert(0, text, attrs);
  p.insert(0, [t]);
  return p;
}

test('restoring a snapshot makes every replica equal it again, with later roots emptied', () => {
  const { client, server } = replicas();
  client.getText('t').insert(0, 'hello world');
  client.getMap('m').set('a', 1);
  client.getMap('m').set('nested', new Y.Map([['x', 'y']]));
  client.getArray('list').push([1, 2, 3]);
  client.getXmlFragment('pm').insert(0, [paragraph('first'), paragraph('second', { bold: true })]);
  const snapshot = Y.encodeStateAsUpdate(client);
  const before = renderContent(server()).roots;

  client.getText('t').delete(0, 6);
  client.getText('t').insert(client.getText('t').length, '!');
  client.getMap('m').set('a', 2);
  client.getMap('m').set('b', true);
  (client.getMap('m').get('nested') as Y.Map<string>).set('x', 'z');
  client.getArray('list').insert(1, ['new']);
  client.getXmlFragment('pm').insert(1, [paragraph('inserted')]);
  client.getText('later').insert(0, 'added after the snapshot');

  const live = server();
  const update = restoreUpdate(live, snapshot);
  assert.ok(update !== null);
  Y.applyUpdate(live, update);
  Y.applyUpdate(client, update);
  const after = renderContent(live).roots;
  for (const name of Object.keys(before)) assert.deepEqual(after[name], before[name], `root ${name}`);
  assert.deepEqual(after.later, { type: 'text', value: '' });
  assert.equal(client.getText('t').toString(), 'hello world');
  assert.deepEqual(client.getArray('list').toJSON(), [1, 2, 3]);
});

test('unchanged children keep their identity: only the middle is replaced', () => {
  const { client, server } = replicas();
  const frag = client.getXmlFragment('pm');
  frag.insert(0, [paragraph('a'), paragraph('b'), paragraph('c')]);
  const snapshot = Y.encodeStateAsUpdate(client);
  const first = frag.get(0);
  frag.delete(1, 1);
  frag.insert(1, [paragraph('B')]);
  const update = restoreUpdate(server(), snapshot);
  assert.ok(update !== null);
  Y.applyUpdate(client, update);
  assert.equal(frag.toString(), '<paragraph>a</paragraph><paragraph>b</paragraph><paragraph>c</paragraph>');
  assert.equal(frag.get(0), first, 'the first paragraph was not rewritten');
});

test('a document already equal to the snapshot needs no update', () => {
  const { client, server } = replicas();
  client.getText('t').insert(0, 'same');
  client.getMap('m').set('k', [1, { a: 2 }]);
  assert.equal(restoreUpdate(server(), Y.encodeStateAsUpdate(client)), null);
});

test('an edit made concurrently with the restore survives beside the restored text', () => {
  const { client, server } = replicas();
  client.getText('t').insert(0, 'abc');
  const snapshot = Y.encodeStateAsUpdate(client);
  client.getText('t').insert(3, 'def');
  const update = restoreUpdate(server(), snapshot);
  assert.ok(update !== null);
  client.getText('t').insert(0, '>');
  Y.applyUpdate(client, update);
  assert.equal(client.getText('t').toString(), '>abc');
});

test('garbage instead of a snapshot is refused', () => {
  assert.throws(() => restoreUpdate(new Y.Doc(), new Uint8Array([1, 2, 3, 4, 5])));
});
