/**
 * PostgresDocAudience on a real PostgreSQL 15 and on PGlite: many documents
 * in one question, each with its members in joining order; a deleted
 * document, an unregistered id and a repeated id are handled.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { parseActorId, type DocId } from '../../protocol/ids.ts';
import type { Database } from '../storage/postgres/database.ts';
import { PostgresDocumentRegistry } from '../storage/postgres/postgres-document-registry.ts';
import { insertTestUser, testDatabases } from '../testing/test-databases.ts';
import { PostgresDocAudience } from './postgres-doc-audience.ts';

for (const [driver, open] of Object.entries(testDatabases())) {
  describe(`PostgresDocAudience on ${driver}`, () => {
    let db: Database;
    let registry: PostgresDocumentRegistry;
    let audience: PostgresDocAudience;
    const user = (): Promise<string> => insertTestUser(db);
    const doc = async (ownerId: string, ...members: string[]): Promise<DocId> => {
      const id = parseActorId(`doc-${randomUUID()}`);
      await registry.create({ id, title: '', ownerId, at: new Date() });
      // Members join one after another, so their order is their joining order.
      for (const [i, m] of members.entries()) await registry.setMember(id, m, 'viewer', new Date(Date.now() + 1_000 * (i + 1)));
      return id;
    };

    it('migrates from empty', async () => {
      db = await open();
      await db.migrate();
      registry = new PostgresDocumentRegistry(db.db);
      audience = new PostgresDocAudience(db.db);
    });

    it('answers for many documents at once, members in joining order, nobody for deleted or unknown ones', async () => {
      const [a, b, c] = [await user(), await user(), await user()];
      const first = await doc(a, b, c);
      const second = await doc(b);
      const gone = await doc(c, a);
      await registry.markDeleted(gone, new Date());
      const unknown = `doc-${randomUUID()}`;
      const got = await audience.recipientsOf([first, second, gone, unknown, first]);
      assert.deepEqual(got.get(first), [a, b, c]);
      assert.deepEqual(got.get(second), [b]);
      assert.equal(got.has(gone), false);
      assert.equal(got.has(unknown), false);
      assert.deepEqual(await audience.recipientsOf([]), new Map());
    });

    it('asks in pages past 200 documents', async () => {
      const owner = await user();
      const ids: DocId[] = [];
      for (let i = 0; i < 205; i++) ids.push(await doc(owner));
      const got = await audience.recipientsOf(ids);
      assert.equal(got.size, 205);
      for (const id of ids) assert.deepEqual(got.get(id), [owner]);
    });
  });
}
