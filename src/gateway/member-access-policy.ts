/**
 * The real CollabAccessPolicy: who may open a document over WebSocket is
 * decided by the accounts module (credentials) and the documents registry
 * (roles). At upgrade:
 *
 * 1. a browser Origin must be allowed (LOOM_ALLOWED_ORIGINS; no Origin = a
 *    non-browser client, which still needs a token) → else 4403;
 * 2. a token must come as `?token=` (y-websocket `params`), an Authorization
 *    or X-Api-Key header, or a `loom.bearer.<token>` subprotocol, and be
 *    valid (unexpired, unrevoked) → else 4401;
 * 3. the principal must be a member of a live document → else 4403.
 *
 * An owner or editor edits; a viewer, or an API key without `docs:write`,
 * connects read-only (the gateway refuses its updates). `recheck` re-reads
 * the role after an access event, so a removed member is closed and a
 * changed role applies from the next frame.
 */
import type { DocId } from '../../protocol/ids.ts';
import { AuthError, extractUpgradeToken, isOriginAllowed, type Principal } from '../auth/index.ts';
import type { DocRole } from '../documents/registry.ts';
import { AccessDeniedError, type CollabAccess, type CollabAccessPolicy, type UpgradeRequest } from './access.ts';
import { credentialOf } from './socket-credential.ts';

export interface MemberAccessPolicyDeps {
  /** The principal of a raw credential. @throws AuthError when it is not valid. */
  authenticateToken(raw: string): Promise<Principal>;
  /** The user's role on a live document, or null. */
  readonly registry: { roleOf(id: DocId, userId: string): Promise<DocRole | null> };
  /** Browser origins allowed (see isOriginAllowed). */
  readonly allowedOrigins: readonly string[];
}

export class MemberAccessPolicy implements CollabAccessPolicy {
  readonly #deps: MemberAccessPolicyDeps;
  /** The principal behind each access this policy granted, for re-checks. */
  readonly #principals = new WeakMap<CollabAccess, Principal>();

  constructor(deps: MemberAccessPolicyDeps) {
    this.#deps = deps;
  }

  async authorize(req: UpgradeRequest): Promise<CollabAccess> {
    if (!isOriginAllowed(req.headers, this.#deps.allowedOrigins)) {
      throw new AccessDeniedError(403, `origin ${String(req.headers.origin)} may not open documents`);
    }
    const found = extractUpgradeToken(req.headers, req.url);
    if (found === null) throw new AccessDeniedError(401, 'a token is required: ?token=, Authorization: Bearer, or a loom.bearer.<token> subprotocol');
    let principal: Principal;
    try {
      principal = await this.#deps.authenticateToken(found.token);
    } catch (err) {
      if (err instanceof AuthError) throw new AccessDeniedError(err.kind === 'forbidden' ? 403 : 401, err.message, { cause: err });
      throw err;
    }
    if (!principal.scopes.has('docs:read')) throw new AccessDeniedError(403, 'this API key lacks the docs:read scope');
    const access = await this.#grant(principal, req.docId);
    if (access === null) throw new AccessDeniedError(403, 'not a member of this document');
    return access;
  }

  async recheck(access: CollabAccess, docId: DocId): Promise<CollabAccess | null> {
    const principal = this.#principals.get(access);
    // Not granted here (cannot happen with one policy per gateway): deny rather than guess.
    if (principal === undefined) return null;
    return this.#grant(principal, docId);
  }

  async #grant(principal: Principal, docId: DocId): Promise<CollabAccess | null> {
    const role = await this.#deps.registry.roleOf(docId, principal.userId);
    if (role === null) return null;
    const access: CollabAccess = {
      principalId: principal.keyId === undefined ? principal.userId : `key:${principal.keyId}`,
      // A read-only API key never edits, whatever its owner's role.
      role: role !== 'viewer' && !principal.scopes.has('docs:write') ? 'viewer' : role,
      credential: credentialOf(principal),
    };
    this.#principals.set(access, principal);
    return access;
  }
}
