/**
 * Document text search on a real PostgreSQL 15 and on PGlite: the snapshot
 * store indexes each snapshot's text (a newer snapshot's text is never
 * replaced by an older one's), and a search finds only the live documents
 * the user is a member of, by title or text, with a snippet.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import * as Y from 'yjs';
import { parseActorId } from '../../../protocol/ids.ts';
import type { Database } from './database.ts';
import { insertTestUser, testDatabases } from '../../testing/test-databases.ts';
import { searchableText, searchDocuments } from './document-text-index.ts';
import { PostgresDocumentRegistry } from './postgres-document-registry.ts';
import { PostgresSnapshotStore } from './postgres-snapshot-store.ts';

const drivers = testDatabases();

function textState(text: string): Uint8Array {
  const doc = new Y.Doc();
  doc.getText('content').insert(0, text);
  const state = Y.encodeStateAsUpdate(doc);
  doc.destroy();
  return state;
}

describe('searchableText', () => {
  it('reads text roots, and the values of other roots, without NUL', () => {
    assert.equal(searchableText(textState('tides\u0000rise')), 'tides rise');
    const doc = new Y.Doc();
    doc.getMap('meta').set('topic', 'lunar tides');
    assert.match(searchableText(Y.encodeStateAsUpdate(doc)), /lunar tides/);
    doc.destroy();
  });
});

for (const [driver, open] of Object.entries(drivers)) {
  describe(`document text search on ${driver}`, () => {
    let db: Database;
    let registry: PostgresDocumentRegistry;
    let snapshots: PostgresSnapshotStore;
    const user = (): Promise<string> => insertTestUser(db);

    it('migrates from empty', async () => {
      db = await open();
      await db.migrate();
      registry = new PostgresDocumentRegistry(db.db);
      snapshots = new PostgresSnapshotStore(db.db);
    });

    it("finds a member's documents by title and by their latest snapshot's text, never others'", async () => {
      const [owner, viewer, stranger] = [await user(), await user(), await user()];
      const at = new Date();
      const byTitle = parseActorId(`doc-${randomUUID()}`);
      const byText = parseActorId(`doc-${randomUUID()}`);
      const deleted = parseActorId(`doc-${randomUUID()}`);
      await registry.create({ id: byTitle, title: 'Seaweed farming', ownerId: owner, at });
      await registry.create({ id: byText, title: 'Notes', ownerId: owner, at });
      await registry.create({ id: deleted, title: 'Seaweed, deleted', ownerId: owner, at });
      await registry.setMember(byText, viewer, 'viewer', at);
      await snapshots.save(byText, { seq: 5, state: textState('Kelp and seaweed grow fast in cold water.') });
      // An older snapshot saved late (a retried save) does not replace the newer text.
      await snapshots.save(byText, { seq: 3, state: textState('nothing about it yet') });
      await registry.markDeleted(deleted, at);

      const hits = await searchDocuments(db.db, owner, 'seaweed', 10);
      assert.deepEqual(hits.map((h) => h.docId).sort(), [byTitle, byText].sort());
      assert.match(hits.find((h) => h.docId === byText)?.snippet ?? '', /«seaweed»/);
      assert.deepEqual((await searchDocuments(db.db, viewer, 'kelp "cold water"', 10)).map((h) => [h.docId, h.role]), [[byText, 'viewer']]);
      assert.deepEqual(await searchDocuments(db.db, stranger, 'seaweed', 10), []);
      assert.deepEqual(await searchDocuments(db.db, owner, 'seaweed -kelp', 10).then((r) => r.map((h) => h.docId)), [byTitle]);
    });

    it('forgets the text when the snapshots are removed', async () => {
      const owner = await user();
      const id = parseActorId(`doc-${randomUUID()}`);
      await registry.create({ id, title: 'Plain', ownerId: owner, at: new Date() });
      await snapshots.save(id, { seq: 1, state: textState('barnacles') });
      assert.equal((await searchDocuments(db.db, owner, 'barnacles', 5)).length, 1);
      await snapshots.remove(id);
      assert.equal((await searchDocuments(db.db, owner, 'barnacles', 5)).length, 0);
    });
  });
}
