/**
 * The revocation notice on `sys.auth.revoked` (CREDENTIAL_REVOKED_SUBJECT):
 * a credential stopped being valid, so every gateway closes the sockets it
 * opened with 4401. JSON, version 1 (`Loom-Version` header absent or `1`):
 *
 *   { "kind": "api-key",      "userId", "keyId" }      one API key was revoked
 *   { "kind": "session",      "userId", "sessionId" }  one login session ended (logout, refresh-token reuse)
 *   { "kind": "all-sessions", "userId" }               every session of the user ended (logout `all`)
 *
 * A notice only says where to look: gateways re-read the credential before
 * closing anything, so a stray or stale notice closes nothing.
 */
import { z } from 'zod';
import { ProtocolError } from './errors.ts';
import { checkVersion, type HeaderMap } from './headers.ts';
import { decodeJson, encodeJson } from './reply.ts';

/** Notices are tiny; anything bigger is not one. */
export const MAX_REVOCATION_NOTICE_BYTES = 1_024;

const idSchema = z.string().min(1).max(128);

const credentialRevokedSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('api-key'), userId: idSchema, keyId: idSchema }).strict(),
  z.object({ kind: z.literal('session'), userId: idSchema, sessionId: idSchema }).strict(),
  z.object({ kind: z.literal('all-sessions'), userId: idSchema }).strict(),
]);

export type CredentialRevoked = z.infer<typeof credentialRevokedSchema>;

export function encodeCredentialRevoked(notice: CredentialRevoked): Uint8Array {
  return encodeJson(notice);
}

/**
 * @throws ProtocolError `unsupported-version`, or `malformed-message` for an oversized, non-JSON or ill-shaped body.
 */
export function decodeCredentialRevoked(body: Uint8Array, headers: HeaderMap = {}): CredentialRevoked {
  checkVersion(headers);
  if (body.length > MAX_REVOCATION_NOTICE_BYTES) {
    throw new ProtocolError('malformed-message', `revocation notice: over ${MAX_REVOCATION_NOTICE_BYTES} bytes`);
  }
  return decodeJson(body, credentialRevokedSchema, 'revocation notice');
}
