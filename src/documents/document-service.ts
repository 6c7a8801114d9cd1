/**
 * What the documents API does, with its permission checks, independent of
 * HTTP: create, list, read, rename, delete, share and unshare, export,
 * snapshots and restore. Roles come from the registry; API keys are further
 * limited by their scopes (`docs:read` for reads, `docs:write` for changes).
 * Content, restore and deletion go to the document's actor over NATS.
 *
 * Deletion order is what keeps a deleted document from ever being served
 * again: (1) the registry's tombstone, after which no activation serves the
 * document and no socket is admitted; (2) the access event, on which every
 * gateway closes its sockets on the document; (3) the actor's `delete`,
 * which removes the log and snapshots inside its mailbox, so no append can
 * slip in between; (4) the document's objects. A failure after (1) answers
 * 503 and a retried DELETE by the owner finishes the job.
 */
import { randomUUID } from 'node:crypto';
import {
  type DocContent,
  docContentSchema,
  deleteReplySchema,
  type RestoreReply,
  restoreReplySchema,
} from '../../protocol/doc.ts';
import { authorFor } from '../../protocol/attribution.ts';
import { HEADERS, type HeaderMap } from '../../protocol/headers.ts';
import { type DocId, idToToken, parseActorId } from '../../protocol/ids.ts';
import { decodeJson, encodeJson } from '../../protocol/reply.ts';
import { type ApiScope, type AuditEvent, AuthError, type Principal } from '../auth/index.ts';
import { InvalidInputError } from '../errors/index.ts';
import type { Logger } from '../log.ts';
import type { AccessEvents } from './access-events.ts';
import { DocumentError } from './document-error.ts';
import {
  type DocRole,
  DocumentExistsError,
  type DocumentListing,
  type DocumentPage,
  type DocumentRecord,
  type DocumentRegistry,
  type ListCursor,
  type ListScope,
  type MemberRecord,
  roleAtLeast,
  UnknownUserError,
} from './registry.ts';

/** A stored snapshot, as listed (no state). */
export interface SnapshotSummary {
  readonly seq: number;
  readonly bytes: number;
  readonly createdAt: Date;
}

/** What the service needs from around it. */
export interface DocumentServiceDeps {
  readonly registry: DocumentRegistry;
  /** Commands to document actors (the ActorClient). */
  readonly actors: {
    request(kind: 'doc', id: DocId, command: string, body: Uint8Array, headers?: HeaderMap): Promise<{ readonly body: Uint8Array }>;
  };
  readonly snapshots: { list(id: DocId): Promise<readonly SnapshotSummary[]> };
  readonly accessEvents: AccessEvents;
  /** Object storage, when configured: a deleted document's objects go with it. */
  readonly objects?: { deletePrefix(prefix: string): Promise<number> } | undefined;
  /** The audit log, when configured. */
  readonly audit?: { record(event: AuditEvent): Promise<void> } | undefined;
  /** Finds accounts by email, for sharing by email; without it only user ids can be shared with. */
  readonly users?: { findByEmail(email: string): Promise<{ readonly id: string } | null> } | undefined;
  /** `open`: anyone reads content, as in the collaboration tests (see Config.docAccess). */
  readonly access: 'members' | 'open';
  readonly log: Logger;
  readonly now?: () => number;
}

/** Where a request came from, for the audit log. */
export interface RequestContext {
  readonly principal: Principal;
  readonly ip?: string | undefined;
}

/** Object keys of a document live under this prefix (`docs/<id-token>/`). */
export function documentObjectPrefix(id: DocId): string {
  return `docs/${idToToken(id)}/`;
}

const EMPTY = new Uint8Array(0);

function requireScope(principal: Principal, scope: ApiScope): void {
  if (!principal.scopes.has(scope)) throw new AuthError('insufficient-scope', `this API key lacks the ${scope} scope`);
}

/** Encodes a listing cursor for clients (opaque to them). */
export function encodeCursor(cursor: ListCursor): string {
  return Buffer.from(JSON.stringify([cursor.createdAt.getTime(), cursor.id])).toString('base64url');
}

/** Cursor times this API can have written: 1970 up to the end of year 9999 (PostgreSQL refuses far beyond). */
const MAX_CURSOR_TIME_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

/**
 * Reads a list cursor. Its time and id reach SQL, so both are checked as
 * the API would have written them: a forged `[9007199254740991,"x"]` or an
 * id with NUL made PostgreSQL fail the query, a 500.
 * @throws InvalidInputError naming `cursor` when it is not one {@link encodeCursor} made.
 */
export function decodeCursor(raw: string): ListCursor {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
  } catch (err) {
    throw new InvalidInputError('cursor', 'not a cursor this API returned', { cause: err });
  }
  if (Array.isArray(value) && value.length === 2 && Number.isSafeInteger(value[0]) && typeof value[1] === 'string') {
    const [ms, id] = value as [number, string];
    if (ms >= 0 && ms <= MAX_CURSOR_TIME_MS && isActorIdText(id)) return { createdAt: new Date(ms), id };
  }
  throw new InvalidInputError('cursor', 'not a cursor this API returned');
}

function isActorIdText(id: string): boolean {
  try {
    parseActorId(id);
    return true;
  } catch {
    // Any id the API lists passes parseActorId; what does not was not written by it.
    return false;
  }
}

export class DocumentService {
  readonly #d: DocumentServiceDeps;
  readonly #now: () => number;

  constructor(deps: DocumentServiceDeps) {
    this.#d = deps;
    this.#now = deps.now ?? Date.now;
  }

  /** Whether content reads need a member's role (false in `open` access mode). */
  get membersOnly(): boolean {
    return this.#d.access === 'members';
  }

  /**
   * The caller's role on a live document.
   * @throws DocumentError `not-found` (unknown or deleted), `not-a-member` (or `role-required` when the role is too weak).
   */
  async authorize(principal: Principal, id: DocId, needed: DocRole, scope: ApiScope): Promise<{ record: DocumentRecord; role: DocRole }> {
    requireScope(principal, scope);
    const record = await this.#d.registry.get(id);
    if (record === null || record.deletedAt !== null) throw new DocumentError('not-found', `no document ${JSON.stringify(id)}`);
    const role = await this.#d.registry.roleOf(id, principal.userId);
    if (role === null) throw new DocumentError('not-a-member', 'you are not a member of this document');
    if (!roleAtLeast(role, needed)) throw new DocumentError('role-required', `this needs the ${needed} role; you are ${role}`);
    return { record, role };
  }

  /**
   * Registers a document owned by the caller, with a generated id unless one is given.
   * @throws DocumentError `document-exists` when the id is (or was) taken.
   */
  async create(ctx: RequestContext, input: { id?: string | undefined; title: string }): Promise<DocumentListing> {
    requireScope(ctx.principal, 'docs:write');
    const id = input.id === undefined ? parseActorId(randomUUID()) : parseActorId(input.id);
    let record: DocumentRecord;
    try {
      record = await this.#d.registry.create({ id, title: input.title, ownerId: ctx.principal.userId, at: new Date(this.#now()) });
    } catch (err) {
      if (err instanceof DocumentExistsError) throw new DocumentError(err.code, err.message, { field: 'id', cause: err });
      throw err;
    }
    await this.#audit({ action: 'doc.create', ctx, id, detail: { title: input.title } });
    return { ...record, role: 'owner' };
  }

  list(principal: Principal, opts: { scope: ListScope; limit: number; cursor?: string | undefined }): Promise<DocumentPage> {
    requireScope(principal, 'docs:read');
    const after = opts.cursor === undefined ? undefined : decodeCursor(opts.cursor);
    return this.#d.registry.list(principal.userId, { scope: opts.scope, limit: opts.limit, after });
  }

  async get(principal: Principal, id: DocId): Promise<DocumentListing> {
    const { record, role } = await this.authorize(principal, id, 'viewer', 'docs:read');
    return { ...record, role };
  }

  /** Renames (editors and owners). */
  async rename(principal: Principal, id: DocId, title: string): Promise<DocumentListing> {
    const { role } = await this.authorize(principal, id, 'editor', 'docs:write');
    const record = await this.#d.registry.rename(id, title, new Date(this.#now()));
    if (record === null) throw new DocumentError('not-found', `no document ${JSON.stringify(id)}`);
    return { ...record, role };
  }

  /**
   * Deletes the document with its log, snapshots and objects (owners only;
   * see the module comment for the order). Repeating it as the owner of a
   * deleted document finishes an interrupted deletion.
   * @throws DocumentError, AuthError; ProtocolError `unavailable` when the actor cannot be reached.
   */
  async delete(ctx: RequestContext, id: DocId): Promise<void> {
    requireScope(ctx.principal, 'docs:write');
    const record = await this.#d.registry.get(id);
    const retry = record !== null && record.deletedAt !== null && record.ownerId === ctx.principal.userId;
    if (!retry) await this.authorize(ctx.principal, id, 'owner', 'docs:write');
    await this.#d.registry.markDeleted(id, new Date(this.#now()));
    this.#d.accessEvents.publish(id, { change: 'document-deleted' });
    decodeJson((await this.#d.actors.request('doc', id, 'delete', EMPTY)).body, deleteReplySchema, 'delete reply');
    const objects = this.#d.objects === undefined ? 0 : await this.#d.objects.deletePrefix(documentObjectPrefix(id));
    this.#d.log.info({ docId: id, objects, retry }, 'document deleted');
    if (!retry) await this.#audit({ action: 'doc.delete', ctx, id, detail: { objects } });
  }

  async members(principal: Principal, id: DocId): Promise<MemberRecord[]> {
    await this.authorize(principal, id, 'viewer', 'docs:read');
    return this.#d.registry.members(id);
  }

  /**
   * Gives a user a role (owners only). The creator's own role never changes.
   * A changed role is announced so gateways apply it to open sockets.
   * @returns the membership and whether the user was added (false: changed).
   * @throws DocumentError `user-not-found`, `owner-fixed`.
   */
  async share(ctx: RequestContext, id: DocId, userId: string, role: DocRole): Promise<{ added: boolean; member: MemberRecord }> {
    const { record } = await this.authorize(ctx.principal, id, 'owner', 'docs:write');
    if (userId === record.ownerId) throw new DocumentError('owner-fixed', "the document's creator stays its owner", { field: 'userId' });
    let added: boolean;
    try {
      added = await this.#d.registry.setMember(id, userId, role, new Date(this.#now()));
    } catch (err) {
      if (err instanceof UnknownUserError) throw new DocumentError(err.code, err.message, { field: 'userId', cause: err });
      throw err;
    }
    if (!added) this.#d.accessEvents.publish(id, { change: 'member-changed', userId });
    await this.#audit({ action: 'doc.share', ctx, id, detail: { userId, role, added } });
    const member = (await this.#d.registry.members(id)).find((m) => m.userId === userId) ?? { userId, role, addedAt: new Date(this.#now()) };
    return { added, member };
  }

  /**
   * Shares with the account that uses `email` (owners only, checked before
   * the lookup so non-owners cannot probe which emails have accounts).
   * @throws DocumentError `user-not-found` (field `email`), `owner-fixed`.
   */
  async shareByEmail(ctx: RequestContext, id: DocId, email: string, role: DocRole): Promise<{ added: boolean; member: MemberRecord }> {
    await this.authorize(ctx.principal, id, 'owner', 'docs:write');
    const user = this.#d.users === undefined ? null : await this.#d.users.findByEmail(email);
    if (user === null) throw new DocumentError('user-not-found', 'no account uses that email', { field: 'email' });
    return this.share(ctx, id, user.id, role);
  }

  /**
   * Removes a member (owners, or members removing themselves); their sockets
   * on the document are closed by every gateway.
   * @throws DocumentError `member-not-found`, `owner-fixed`.
   */
  async unshare(ctx: RequestContext, id: DocId, userId: string): Promise<void> {
    const self = userId === ctx.principal.userId;
    const { record } = await this.authorize(ctx.principal, id, self ? 'viewer' : 'owner', 'docs:write');
    if (userId === record.ownerId) throw new DocumentError('owner-fixed', "the document's creator cannot be removed", { field: 'userId' });
    if (!(await this.#d.registry.removeMember(id, userId))) throw new DocumentError('member-not-found', `user ${userId} is not a member`, { field: 'userId' });
    this.#d.accessEvents.publish(id, { change: 'member-removed', userId });
    await this.#audit({ action: 'doc.unshare', ctx, id, detail: { userId } });
  }

  /**
   * The document's content (viewers and up; anyone in `open` mode, where a
   * document never written reads as 404 like before the registry existed).
   */
  async content(principal: Principal | null, id: DocId): Promise<DocContent> {
    let registered = false;
    if (this.membersOnly) {
      if (principal === null) throw new AuthError('unauthenticated', 'credentials required: Authorization: Bearer <token> or X-Api-Key');
      await this.authorize(principal, id, 'viewer', 'docs:read');
      registered = true;
    }
    const content = decodeJson((await this.#d.actors.request('doc', id, 'content', EMPTY)).body, docContentSchema, 'content reply');
    if (!registered && content.seq === 0 && Object.keys(content.roots).length === 0) {
      throw new DocumentError('not-found', `document ${id} has no content`);
    }
    return content;
  }

  async snapshots(principal: Principal, id: DocId): Promise<readonly SnapshotSummary[]> {
    await this.authorize(principal, id, 'viewer', 'docs:read');
    return this.#d.snapshots.list(id);
  }

  /** Makes the document equal a snapshot again, as a new version (editors and owners). */
  async restore(ctx: RequestContext, id: DocId, seq: number): Promise<RestoreReply> {
    await this.authorize(ctx.principal, id, 'editor', 'docs:write');
    // The restoring update is attributed to whoever restored (protocol/attribution.ts).
    const reply = await this.#d.actors.request('doc', id, 'restore', encodeJson({ seq }), { [HEADERS.author]: authorFor('user', ctx.principal.userId) });
    const restored = decodeJson(reply.body, restoreReplySchema, 'restore reply');
    await this.#audit({ action: 'doc.restore', ctx, id, detail: { ...restored } });
    return restored;
  }

  /** For the audit route: whether the principal owns the document (deleted ones included, for their creator). */
  async ownership(principal: Principal, targetId: string): Promise<'owner' | 'forbidden' | 'not-found'> {
    let id: DocId;
    try {
      id = parseActorId(targetId);
    } catch (err) {
      this.#d.log.debug({ err }, 'audit target is not a document id');
      return 'not-found';
    }
    const record = await this.#d.registry.get(id);
    if (record === null) return 'not-found';
    if (record.ownerId === principal.userId) return 'owner';
    const role = await this.#d.registry.roleOf(id, principal.userId);
    if (role === 'owner') return 'owner';
    return role === null ? 'not-found' : 'forbidden';
  }

  async #audit(e: { action: AuditEvent['action']; ctx: RequestContext; id: DocId; detail: Record<string, unknown> }): Promise<void> {
    await this.#d.audit?.record({ action: e.action, actor: e.ctx.principal, targetType: 'doc', targetId: e.id, ip: e.ctx.ip, detail: e.detail });
  }
}
