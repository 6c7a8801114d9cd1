/**
 * What a socket remembers about the credential that opened it, so the
 * gateway can close it when that credential stops working: an API key is
 * revoked, a login session ends (logout, refresh-token reuse), or the access
 * token expires. Sockets opened without credentials (LOOM_DOC_ACCESS=open on
 * /collab) have none and are never closed for these reasons.
 */
import type { CredentialRevoked } from '../../protocol/revocation.ts';
import type { Principal } from '../auth/index.ts';

export interface SocketCredential {
  readonly userId: string;
  /** Set when an API key opened the socket. */
  readonly keyId?: string | undefined;
  /** Set when a user's access token opened the socket: its login session. */
  readonly sessionId?: string | undefined;
  /** When the access token expires, epoch ms; the socket is closed then. */
  readonly expiresAtMs?: number | undefined;
}

/** Asks the accounts store, not the notice, whether a credential was revoked. */
export interface CredentialStatus {
  isRevoked(credential: SocketCredential): Promise<boolean>;
}

export function credentialOf(principal: Principal): SocketCredential {
  return principal.keyId !== undefined
    ? { userId: principal.userId, keyId: principal.keyId }
    : { userId: principal.userId, sessionId: principal.sessionId, expiresAtMs: principal.expiresAt?.getTime() };
}

/** Whether a revocation notice names the credential (it may still be re-checked before acting). */
export function isNamedBy(credential: SocketCredential, notice: CredentialRevoked): boolean {
  switch (notice.kind) {
    case 'api-key':
      return credential.keyId === notice.keyId;
    case 'session':
      return credential.keyId === undefined && credential.sessionId === notice.sessionId;
    case 'all-sessions':
      return credential.keyId === undefined && credential.sessionId !== undefined && credential.userId === notice.userId;
    default: {
      const never: never = notice;
      throw new Error(`unhandled revocation ${JSON.stringify(never)}`);
    }
  }
}

/** The accounts services a CredentialStatus reads. */
export interface CredentialStore {
  readonly apiKeys: { isRevoked(keyId: string): Promise<boolean> };
  readonly tokens: { isSessionRevoked(sessionId: string): Promise<boolean> };
}

/** Reads key and session revocation from the accounts store. */
export function storedCredentialStatus(store: CredentialStore): CredentialStatus {
  return {
    isRevoked: async (c) => {
      if (c.keyId !== undefined) return store.apiKeys.isRevoked(c.keyId);
      if (c.sessionId !== undefined) return store.tokens.isSessionRevoked(c.sessionId);
      return false;
    },
  };
}
