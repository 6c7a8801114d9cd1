/**
 * The documents registry as its consumers (HTTP routes, the WebSocket access
 * policy, the document actor's directory) need it: documents with a title
 * and an owner, members with roles, and tombstones for deleted documents.
 * `src/storage/postgres/postgres-document-registry.ts` implements it.
 */
import type { DocId } from '../../protocol/ids.ts';

/** Roles on a document, strongest first. */
export const DOC_ROLES = ['owner', 'editor', 'viewer'] as const;
export type DocRole = (typeof DOC_ROLES)[number];

const RANK: Readonly<Record<DocRole, number>> = { owner: 3, editor: 2, viewer: 1 };

/** Whether `role` grants at least what `needed` grants. */
export function roleAtLeast(role: DocRole, needed: DocRole): boolean {
  return RANK[role] >= RANK[needed];
}

/** A registered document. */
export interface DocumentRecord {
  readonly id: DocId;
  readonly title: string;
  /** The creator: always an owner, never removable. */
  readonly ownerId: string;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  /** Set once deleted; the record stays as a tombstone. */
  readonly deletedAt: Date | null;
}

/** A document as one of its members sees it in a listing. */
export interface DocumentListing extends DocumentRecord {
  readonly role: DocRole;
}

export interface MemberRecord {
  readonly userId: string;
  readonly role: DocRole;
  readonly addedAt: Date;
}

/** Which of a user's documents to list. */
export type ListScope = 'all' | 'owned' | 'shared';

/** Position after the last item of a page (listings are newest first). */
export interface ListCursor {
  readonly createdAt: Date;
  readonly id: string;
}

export interface ListOptions {
  readonly scope: ListScope;
  readonly limit: number;
  readonly after?: ListCursor | undefined;
}

export interface DocumentPage {
  readonly items: readonly DocumentListing[];
  /** Cursor of the next page, or null on the last one. */
  readonly next: ListCursor | null;
}

/** The id is taken, by a live or a deleted document. */
export class DocumentExistsError extends Error {
  override readonly name = 'DocumentExistsError';
  readonly code = 'document-exists';
  constructor(
    readonly docId: string,
    options?: { cause?: unknown },
  ) {
    super(`a document with id ${JSON.stringify(docId)} exists or existed`, options);
  }
}

/** A member was named by a user id no account has. */
export class UnknownUserError extends Error {
  override readonly name = 'UnknownUserError';
  readonly code = 'user-not-found';
  constructor(
    readonly userId: string,
    options?: { cause?: unknown },
  ) {
    super(`no user with id ${userId}`, options);
  }
}

/** Storage of documents and their members. Failures other than the errors named are StorageErrors. */
export interface DocumentRegistry {
  /**
   * Registers a document with its owner as first member, both at `at`.
   * @throws DocumentExistsError when the id is taken (deleted documents included).
   */
  create(doc: { id: DocId; title: string; ownerId: string; at: Date }): Promise<DocumentRecord>;
  /** The document, deleted ones included (check `deletedAt`), or null. */
  get(id: DocId): Promise<DocumentRecord | null>;
  /** The user's role on a live document, or null (not a member, unknown or deleted document). */
  roleOf(id: DocId, userId: string): Promise<DocRole | null>;
  /** The user's live documents, newest first. */
  list(userId: string, opts: ListOptions): Promise<DocumentPage>;
  /** Sets the title of a live document; null when there is none. */
  rename(id: DocId, title: string, at: Date): Promise<DocumentRecord | null>;
  /** Marks the document deleted at `at` and drops its members (the owner stays on the record). */
  markDeleted(id: DocId, at: Date): Promise<void>;
  /** Whether the document is deleted (unknown documents are not). */
  isDeleted(id: DocId): Promise<boolean>;
  /** Whether the id was ever registered (deleted documents included). */
  isRegistered(id: DocId): Promise<boolean>;
  /** Members of the document, owner first, then by when they were added. */
  members(id: DocId): Promise<MemberRecord[]>;
  /**
   * Gives a user a role (adding or changing it).
   * @returns whether the user was added (true) or changed (false).
   * @throws UnknownUserError when no account has `userId`.
   */
  setMember(id: DocId, userId: string, role: DocRole, at: Date): Promise<boolean>;
  /** Removes a member; false when the user was none. */
  removeMember(id: DocId, userId: string): Promise<boolean>;
}
