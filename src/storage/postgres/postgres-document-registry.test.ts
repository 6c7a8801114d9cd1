/**
 * PostgresDocumentRegistry on a real PostgreSQL 15 and on PGlite: creation
 * with the owner as member, roles, listing pages, renaming, tombstones and
 * the named errors for taken ids and unknown users.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { parseActorId } from '../../../protocol/ids.ts';
import { DocumentExistsError, UnknownUserError } from '../../documents/registry.ts';
import type { Database } from './database.ts';
import { insertTestUser, testDatabases } from '../../testing/test-databases.ts';
import { PostgresDocumentRegistry } from './postgres-document-registry.ts';

const drivers = testDatabases();

for (const [driver, open] of Object.entries(drivers)) {
  describe(`PostgresDocumentRegistry on ${driver}`, () => {
    let db: Database;
    let registry: PostgresDocumentRegistry;
    const user = (): Promise<string> => insertTestUser(db);
    const docId = () => parseActorId(`doc-${randomUUID()}`);

    it('migrates from empty', async () => {
      db = await open();
      await db.migrate();
      registry = new PostgresDocumentRegistry(db.db);
    });

    it('creates a document with its owner as member, and refuses the id twice', async () => {
      const owner = await user();
      const id = docId();
      const at = new Date(1_700_000_000_123);
      const doc = await registry.create({ id, title: 'Notes', ownerId: owner, at });
      assert.deepEqual(doc, { id, title: 'Notes', ownerId: owner, createdAt: at, updatedAt: at, deletedAt: null });
      assert.equal(await registry.roleOf(id, owner), 'owner');
      await assert.rejects(registry.create({ id, title: 'again', ownerId: owner, at }), DocumentExistsError);
      await assert.rejects(registry.create({ id: docId(), title: 'x', ownerId: randomUUID(), at }), UnknownUserError);
    });

    it('adds, changes and removes members; unknown users are named', async () => {
      const [owner, other] = [await user(), await user()];
      const id = docId();
      await registry.create({ id, title: '', ownerId: owner, at: new Date() });
      assert.equal(await registry.setMember(id, other, 'viewer', new Date()), true);
      assert.equal(await registry.setMember(id, other, 'editor', new Date()), false);
      assert.equal(await registry.roleOf(id, other), 'editor');
      assert.deepEqual((await registry.members(id)).map((m) => [m.userId, m.role]), [[owner, 'owner'], [other, 'editor']]);
      await assert.rejects(registry.setMember(id, randomUUID(), 'viewer', new Date()), UnknownUserError);
      assert.equal(await registry.removeMember(id, other), true);
      assert.equal(await registry.removeMember(id, other), false);
      assert.equal(await registry.roleOf(id, other), null);
    });

    it('lists owned and shared documents newest first, page by page', async () => {
      const [me, friend] = [await user(), await user()];
      const mine = [docId(), docId(), docId()];
      for (const [i, id] of mine.entries()) await registry.create({ id, title: `m${i}`, ownerId: me, at: new Date(1_000 + i) });
      const theirs = docId();
      await registry.create({ id: theirs, title: 'shared', ownerId: friend, at: new Date(5_000) });
      await registry.setMember(theirs, me, 'viewer', new Date());
      const first = await registry.list(me, { scope: 'all', limit: 2 });
      assert.deepEqual(first.items.map((d) => [d.title, d.role]), [['shared', 'viewer'], ['m2', 'owner']]);
      assert.ok(first.next);
      const second = await registry.list(me, { scope: 'all', limit: 2, after: first.next });
      assert.deepEqual(second.items.map((d) => d.title), ['m1', 'm0']);
      assert.equal(second.next, null);
      assert.deepEqual((await registry.list(me, { scope: 'shared', limit: 10 })).items.map((d) => d.id), [theirs]);
      assert.equal((await registry.list(me, { scope: 'owned', limit: 10 })).items.length, 3);
    });

    it('renames live documents and tombstones deleted ones', async () => {
      const [owner, editor] = [await user(), await user()];
      const id = docId();
      await registry.create({ id, title: 'old', ownerId: owner, at: new Date() });
      await registry.setMember(id, editor, 'editor', new Date());
      assert.equal((await registry.rename(id, 'new', new Date()))?.title, 'new');
      assert.equal(await registry.isDeleted(id), false);
      await registry.markDeleted(id, new Date());
      await registry.markDeleted(id, new Date());
      assert.equal(await registry.isDeleted(id), true);
      assert.equal(await registry.isDeleted(docId()), false, 'unknown documents are not deleted');
      assert.equal(await registry.isRegistered(id), true, 'a deleted document stays registered');
      assert.equal(await registry.isRegistered(docId()), false, 'an id nobody created is not registered');
      assert.equal(await registry.roleOf(id, owner), null);
      assert.deepEqual(await registry.members(id), []);
      assert.equal(await registry.rename(id, 'again', new Date()), null);
      assert.equal((await registry.get(id))?.ownerId, owner);
      assert.equal((await registry.list(owner, { scope: 'all', limit: 10 })).items.length, 0);
      await assert.rejects(registry.create({ id, title: 'reuse', ownerId: owner, at: new Date() }), DocumentExistsError);
    });
  });
}
