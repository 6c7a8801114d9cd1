/**
 * DocumentRegistry on PostgreSQL (or PGlite): `documents` and
 * `document_members` (documents-schema.ts). Creation writes the document and
 * its owner's membership in one transaction; deletion sets the tombstone and
 * drops the members in one. Listings page by (created_at, id), newest first.
 * Every failure that is not a named registry error is a StorageError.
 */
import { and, asc, desc, eq, isNull, lt, ne, or, sql } from 'drizzle-orm';
import type { DocId } from '../../../protocol/ids.ts';
import { eventLinks, LOOM_EVENT_TYPES, orderKeys } from '../../../protocol/outbound-event-types.ts';
import {
  type DocRole,
  DocumentExistsError,
  type DocumentListing,
  type DocumentPage,
  type DocumentRecord,
  type DocumentRegistry,
  type ListOptions,
  type MemberRecord,
  UnknownUserError,
} from '../../documents/registry.ts';
import type { LoomDatabase } from './database.ts';
import { documentMembers, documents } from './documents-schema.ts';
import { isForeignKeyViolation, isUniqueViolation, StorageError } from './storage-error.ts';
import { recordOutboxEvent, type OutboxWriter } from './outbound-outbox.ts';

type DocumentRow = typeof documents.$inferSelect;

function toRecord(row: DocumentRow): DocumentRecord {
  return {
    id: row.id as DocId,
    title: row.title,
    ownerId: row.ownerId,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
    deletedAt: row.deletedAt,
  };
}

function asRole(value: string): DocRole {
  if (value === 'owner' || value === 'editor' || value === 'viewer') return value;
  // The table's check constraint makes this unreachable short of manual edits.
  throw new StorageError(`document_members holds an unknown role ${JSON.stringify(value)}`, { op: 'read-role' }, { cause: undefined });
}

/** Runs a query, turning driver failures into StorageErrors that name the operation. */
async function run<T>(op: string, docId: string | undefined, what: string, query: () => Promise<T>): Promise<T> {
  try {
    return await query();
  } catch (err) {
    if (err instanceof DocumentExistsError || err instanceof UnknownUserError || err instanceof StorageError) throw err;
    throw new StorageError(`${what} failed`, docId === undefined ? { op } : { op, docId }, { cause: err });
  }
}

/**
 * @example
 *   const registry = new PostgresDocumentRegistry(database.db);
 *   await registry.create({ id, title: 'Notes', ownerId: user.id, at: new Date() });
 */
export class PostgresDocumentRegistry implements DocumentRegistry {
  readonly #db: LoomDatabase;

  constructor(db: LoomDatabase) {
    this.#db = db;
  }

  create(doc: { id: DocId; title: string; ownerId: string; at: Date }): Promise<DocumentRecord> {
    return run('create', doc.id, `creating document ${JSON.stringify(doc.id)}`, async () => {
      try {
        return await this.#db.transaction(async (tx) => {
          const [row] = await tx
            .insert(documents)
            .values({ id: doc.id, title: doc.title, ownerId: doc.ownerId, createdAt: doc.at, updatedAt: doc.at })
            .returning();
          if (row === undefined) throw new Error('insert returned no row');
          await tx.insert(documentMembers).values({ docId: doc.id, userId: doc.ownerId, role: 'owner', createdAt: doc.at });
          return toRecord(row);
        });
      } catch (err) {
        if (isUniqueViolation(err)) throw new DocumentExistsError(doc.id, { cause: err });
        if (isForeignKeyViolation(err, 'documents_owner_id_users_id_fk')) throw new UnknownUserError(doc.ownerId, { cause: err });
        throw err;
      }
    });
  }

  get(id: DocId): Promise<DocumentRecord | null> {
    return run('get', id, `reading document ${JSON.stringify(id)}`, async () => {
      const [row] = await this.#db.select().from(documents).where(eq(documents.id, id)).limit(1);
      return row === undefined ? null : toRecord(row);
    });
  }

  roleOf(id: DocId, userId: string): Promise<DocRole | null> {
    return run('role-of', id, `reading a role on document ${JSON.stringify(id)}`, async () => {
      const [row] = await this.#db
        .select({ role: documentMembers.role })
        .from(documentMembers)
        .innerJoin(documents, eq(documents.id, documentMembers.docId))
        .where(and(eq(documentMembers.docId, id), eq(documentMembers.userId, userId), isNull(documents.deletedAt)))
        .limit(1);
      return row === undefined ? null : asRole(row.role);
    });
  }

  list(userId: string, opts: ListOptions): Promise<DocumentPage> {
    return run('list', undefined, `listing the documents of user ${userId}`, async () => {
      const conditions = [eq(documentMembers.userId, userId), isNull(documents.deletedAt)];
      if (opts.scope === 'owned') conditions.push(eq(documents.ownerId, userId));
      if (opts.scope === 'shared') conditions.push(ne(documents.ownerId, userId));
      if (opts.after !== undefined) {
        const { createdAt, id } = opts.after;
        const older = or(lt(documents.createdAt, createdAt), and(eq(documents.createdAt, createdAt), lt(documents.id, id)));
        if (older !== undefined) conditions.push(older);
      }
      const rows = await this.#db
        .select({ doc: documents, role: documentMembers.role })
        .from(documentMembers)
        .innerJoin(documents, eq(documents.id, documentMembers.docId))
        .where(and(...conditions))
        .orderBy(desc(documents.createdAt), desc(documents.id))
        .limit(opts.limit + 1);
      const items: DocumentListing[] = rows.slice(0, opts.limit).map((r) => ({ ...toRecord(r.doc), role: asRole(r.role) }));
      const last = items[items.length - 1];
      return { items, next: rows.length > opts.limit && last !== undefined ? { createdAt: last.createdAt, id: last.id } : null };
    });
  }

  rename(id: DocId, title: string, at: Date): Promise<DocumentRecord | null> {
    return run('rename', id, `renaming document ${JSON.stringify(id)}`, async () => {
      const [row] = await this.#db
        .update(documents)
        .set({ title, updatedAt: at })
        .where(and(eq(documents.id, id), isNull(documents.deletedAt)))
        .returning();
      return row === undefined ? null : toRecord(row);
    });
  }

  markDeleted(id: DocId, at: Date): Promise<void> {
    return run('mark-deleted', id, `marking document ${JSON.stringify(id)} deleted`, async () => {
      await this.#db.transaction(async (tx) => {
        // Keep the first deletion time when a delete is retried.
        await tx
          .update(documents)
          .set({ deletedAt: sql`coalesce(${documents.deletedAt}, ${at.toISOString()}::timestamptz)`, updatedAt: at })
          .where(eq(documents.id, id));
        await tx.delete(documentMembers).where(eq(documentMembers.docId, id));
      });
    });
  }

  isDeleted(id: DocId): Promise<boolean> {
    return run('is-deleted', id, `checking whether document ${JSON.stringify(id)} is deleted`, async () => {
      const [row] = await this.#db.select({ deletedAt: documents.deletedAt }).from(documents).where(eq(documents.id, id)).limit(1);
      return row?.deletedAt != null;
    });
  }

  isRegistered(id: DocId): Promise<boolean> {
    return run('is-registered', id, `checking whether document ${JSON.stringify(id)} is registered`, async () => {
      const [row] = await this.#db.select({ id: documents.id }).from(documents).where(eq(documents.id, id)).limit(1);
      return row !== undefined;
    });
  }

  members(id: DocId): Promise<MemberRecord[]> {
    return run('members', id, `listing the members of document ${JSON.stringify(id)}`, async () => {
      const rows = await this.#db
        .select({ userId: documentMembers.userId, role: documentMembers.role, addedAt: documentMembers.createdAt })
        .from(documentMembers)
        .where(eq(documentMembers.docId, id))
        .orderBy(sql`${documentMembers.role} = 'owner' desc`, asc(documentMembers.createdAt), asc(documentMembers.userId));
      return rows.map((r) => ({ userId: r.userId, role: asRole(r.role), addedAt: r.addedAt }));
    });
  }

  setMember(id: DocId, userId: string, role: DocRole, at: Date): Promise<boolean> {
    return run('set-member', id, `setting a member of document ${JSON.stringify(id)}`, async () => {
      try {
        return await this.#db.transaction(async (tx) => {
          // xmax = 0 only for a freshly inserted row: tells an add from a change in one statement.
          const [row] = await tx
            .insert(documentMembers)
            .values({ docId: id, userId, role, createdAt: at })
            .onConflictDoUpdate({ target: [documentMembers.docId, documentMembers.userId], set: { role } })
            .returning({ inserted: sql<boolean>`(xmax = 0)` });
          const added = row?.inserted === true;
          // The outbound event commits with the membership (issue 9's outbox).
          if (added) await recordMemberEvent(tx, LOOM_EVENT_TYPES.docMemberAdded, id, userId, role, at);
          return added;
        });
      } catch (err) {
        if (isForeignKeyViolation(err, 'document_members_user_id_users_id_fk')) throw new UnknownUserError(userId, { cause: err });
        throw err;
      }
    });
  }

  removeMember(id: DocId, userId: string): Promise<boolean> {
    return run('remove-member', id, `removing a member of document ${JSON.stringify(id)}`, async () => {
      return this.#db.transaction(async (tx) => {
        const rows = await tx
          .delete(documentMembers)
          .where(and(eq(documentMembers.docId, id), eq(documentMembers.userId, userId)))
          .returning({ userId: documentMembers.userId });
        if (rows.length === 0) return false;
        await recordMemberEvent(tx, LOOM_EVENT_TYPES.docMemberRemoved, id, userId, null, new Date());
        return true;
      });
    });
  }
}

/**
 * Records `doc.member.added|removed` in the membership's transaction: told
 * to the document's owner and to the member concerned.
 */
async function recordMemberEvent(
  tx: OutboxWriter & Pick<LoomDatabase, 'select'>,
  type: typeof LOOM_EVENT_TYPES.docMemberAdded | typeof LOOM_EVENT_TYPES.docMemberRemoved,
  docId: DocId,
  userId: string,
  role: DocRole | null,
  at: Date,
): Promise<void> {
  const [doc] = await tx.select({ ownerId: documents.ownerId }).from(documents).where(eq(documents.id, docId)).limit(1);
  await recordOutboxEvent(tx, {
    type,
    ownerIds: doc === undefined ? [userId] : [doc.ownerId, userId],
    orderKey: orderKeys.doc(docId),
    data: { docId, userId, ...(role === null ? {} : { role }), link: eventLinks.doc(docId) },
    at,
  });
}
