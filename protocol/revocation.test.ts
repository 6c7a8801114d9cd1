import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProtocolError } from './errors.ts';
import { decodeCredentialRevoked, encodeCredentialRevoked, MAX_REVOCATION_NOTICE_BYTES, type CredentialRevoked } from './revocation.ts';

test('every kind of revocation notice survives a round trip', () => {
  const notices: CredentialRevoked[] = [
    { kind: 'api-key', userId: 'u1', keyId: 'k1' },
    { kind: 'session', userId: 'u1', sessionId: 's1' },
    { kind: 'all-sessions', userId: 'u1' },
  ];
  for (const n of notices) assert.deepEqual(decodeCredentialRevoked(encodeCredentialRevoked(n)), n);
});

test('malformed, oversized, foreign-version and ill-shaped notices are refused with a code', () => {
  const bad = (body: Uint8Array, headers = {}) => assert.throws(() => decodeCredentialRevoked(body, headers), ProtocolError);
  const text = (s: string) => new TextEncoder().encode(s);
  bad(text('not json'));
  bad(text('{"kind":"api-key","userId":"u"}'));
  bad(text('{"kind":"everything","userId":"u"}'));
  bad(text('{"kind":"all-sessions","userId":"u","extra":1}'));
  bad(text(JSON.stringify({ kind: 'all-sessions', userId: 'u'.repeat(MAX_REVOCATION_NOTICE_BYTES) })));
  bad(encodeCredentialRevoked({ kind: 'all-sessions', userId: 'u' }), { 'Loom-Version': '2' });
});
