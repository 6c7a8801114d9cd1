/**
 * Who wrote what in a document, and reverting one job's or agent
 * session's edits, with the same permission checks as the rest of the
 * documents API: attribution is read like content (viewers and up; anyone
 * in `open` access mode), a revert changes the document like a restore
 * (editors and owners). Both are commands to the document's actor; the
 * revert names the requesting user as its Loom-Author.
 */
import { authorFor, type Author } from '../../protocol/attribution.ts';
import { type AttributionReply, attributionReplySchema, type RevertReply, revertReplySchema } from '../../protocol/doc.ts';
import { HEADERS, type HeaderMap } from '../../protocol/headers.ts';
import type { DocId } from '../../protocol/ids.ts';
import { decodeJson, encodeJson } from '../../protocol/reply.ts';
import { AuthError, type AuditEvent, type Principal } from '../auth/index.ts';
import { DocumentError } from './document-error.ts';
import type { DocumentService, RequestContext } from './document-service.ts';

export interface DocumentAttributionDeps {
  readonly documents: Pick<DocumentService, 'authorize' | 'membersOnly'>;
  readonly actors: {
    request(kind: 'doc', id: DocId, command: string, body: Uint8Array, headers?: HeaderMap): Promise<{ readonly body: Uint8Array }>;
  };
  readonly audit?: { record(event: AuditEvent): Promise<void> } | undefined;
}

const EMPTY = new Uint8Array(0);

export class DocumentAttribution {
  readonly #d: DocumentAttributionDeps;

  constructor(deps: DocumentAttributionDeps) {
    this.#d = deps;
  }

  /**
   * The document's text roots as spans with their authors.
   * @throws DocumentError `not-found`, `not-a-member`; AuthError without credentials when members-only.
   */
  async attribution(principal: Principal | null, id: DocId): Promise<AttributionReply> {
    if (this.#d.documents.membersOnly) {
      if (principal === null) throw new AuthError('unauthenticated', 'credentials required: Authorization: Bearer <token> or X-Api-Key');
      await this.#d.documents.authorize(principal, id, 'viewer', 'docs:read');
    }
    const reply = decodeJson((await this.#d.actors.request('doc', id, 'attribution', EMPTY)).body, attributionReplySchema, 'attribution reply');
    // In open mode a document nobody wrote reads as missing, as its content does.
    if (!this.#d.documents.membersOnly && reply.seq === 0 && Object.keys(reply.roots).length === 0) {
      throw new DocumentError('not-found', `document ${id} has no content`);
    }
    return reply;
  }

  /**
   * Removes what `origin` (a job or agent session) inserted and restores
   * what it deleted, as one new version (editors and owners).
   * @throws DocumentError `not-found`, `not-a-member`, `role-required`.
   */
  async revert(ctx: RequestContext, id: DocId, origin: Author): Promise<RevertReply> {
    await this.#d.documents.authorize(ctx.principal, id, 'editor', 'docs:write');
    const headers = { [HEADERS.author]: authorFor('user', ctx.principal.userId) };
    const reply = await this.#d.actors.request('doc', id, 'revert', encodeJson({ origin }), headers);
    const reverted = decodeJson(reply.body, revertReplySchema, 'revert reply');
    await this.#d.audit?.record({ action: 'doc.revert', actor: ctx.principal, targetType: 'doc', targetId: id, ip: ctx.ip, detail: { ...reverted } });
    return reverted;
  }
}
