import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Principal } from '../auth/index.ts';
import { credentialOf, isNamedBy, storedCredentialStatus } from './socket-credential.ts';

const user: Principal = { kind: 'user', userId: 'u1', keyId: undefined, scopes: new Set(), sessionId: 's1', expiresAt: new Date(5_000) };
const key: Principal = { kind: 'api-key', userId: 'u1', keyId: 'k1', scopes: new Set() };

test('a socket remembers the key, or the session and expiry of its access token', () => {
  assert.deepEqual(credentialOf(key), { userId: 'u1', keyId: 'k1' });
  assert.deepEqual(credentialOf(user), { userId: 'u1', sessionId: 's1', expiresAtMs: 5_000 });
});

test('notices name only the credential they are about', () => {
  const bySession = credentialOf(user);
  const byKey = credentialOf(key);
  assert.ok(isNamedBy(byKey, { kind: 'api-key', userId: 'u1', keyId: 'k1' }));
  assert.ok(!isNamedBy(byKey, { kind: 'api-key', userId: 'u1', keyId: 'k2' }));
  assert.ok(!isNamedBy(byKey, { kind: 'all-sessions', userId: 'u1' }), 'logging out everywhere leaves API keys alone');
  assert.ok(isNamedBy(bySession, { kind: 'session', userId: 'u1', sessionId: 's1' }));
  assert.ok(!isNamedBy(bySession, { kind: 'session', userId: 'u1', sessionId: 's2' }));
  assert.ok(isNamedBy(bySession, { kind: 'all-sessions', userId: 'u1' }));
  assert.ok(!isNamedBy(bySession, { kind: 'all-sessions', userId: 'u2' }));
});

// A token of an ended session is refused by createAuth's authenticateToken itself, for HTTP and
// upgrades alike (accounts-api.test.ts "logout", revocation.test.ts "a signed-out token opens nothing").
test('the store decides: revoked keys and ended sessions', async () => {
  const status = storedCredentialStatus({
    apiKeys: { isRevoked: (id) => Promise.resolve(id === 'k1') },
    tokens: { isSessionRevoked: (id) => Promise.resolve(id === 's1') },
  });
  assert.equal(await status.isRevoked({ userId: 'u1', keyId: 'k1' }), true);
  assert.equal(await status.isRevoked({ userId: 'u1', keyId: 'k2' }), false);
  assert.equal(await status.isRevoked({ userId: 'u1', sessionId: 's1' }), true);
  assert.equal(await status.isRevoked({ userId: 'u1' }), false);
});
