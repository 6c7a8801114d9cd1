/**
 * Who may open a document over WebSocket, and with which role. The gateway
 * asks the policy at upgrade time and again whenever rights may have changed;
 * the accounts module provides the real policy, `openAccess` lets anyone edit
 * (the embedded default until accounts are configured, and in tests of the
 * collaboration path itself).
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { DocId } from '../../protocol/ids.ts';
import type { SocketCredential } from './socket-credential.ts';

export type DocRole = 'owner' | 'editor' | 'viewer';

export interface CollabAccess {
  /** Stable id of the user or API key, for logs and re-checks. */
  readonly principalId: string;
  readonly role: DocRole;
  /** The credential that opened the socket (closed when it is revoked or expires); none for anonymous access. */
  readonly credential?: SocketCredential | undefined;
}

export interface UpgradeRequest {
  readonly headers: IncomingHttpHeaders;
  readonly url: URL;
  readonly docId: DocId;
}

/** Refusal at upgrade: 401 (who are you?) or 403 (not for you). */
export class AccessDeniedError extends Error {
  override readonly name = 'AccessDeniedError';
  constructor(
    readonly status: 401 | 403,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface CollabAccessPolicy {
  /** @throws AccessDeniedError to refuse the connection. */
  authorize(req: UpgradeRequest): Promise<CollabAccess>;
  /** Current role of an already connected principal, or null when it lost access. */
  recheck(access: CollabAccess, docId: DocId): Promise<CollabAccess | null>;
}

export const openAccess: CollabAccessPolicy = {
  authorize: () => Promise.resolve({ principalId: 'anonymous', role: 'editor' }),
  recheck: (access) => Promise.resolve(access),
};

export function canWrite(role: DocRole): boolean {
  return role !== 'viewer';
}
