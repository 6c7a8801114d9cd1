/** Where an upgrade's credential is found, which subprotocol is answered, and which origins pass. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bearerToken, extractUpgradeToken, isOriginAllowed, selectSubprotocol } from './upgrade-token.ts';

const url = (query = '') => new URL(`http://gw.example:1234/collab/room${query}`);

describe('extractUpgradeToken', () => {
  it('reads the Authorization header first', () => {
    const found = extractUpgradeToken({ authorization: 'Bearer aaa', 'x-api-key': 'loom_k', 'sec-websocket-protocol': 'loom, loom.bearer.ccc' }, url('?token=ddd'));
    assert.deepEqual(found, { token: 'aaa', source: 'authorization' });
  });

  it('falls back to X-Api-Key, then a loom.bearer subprotocol, then ?token=', () => {
    assert.deepEqual(extractUpgradeToken({ 'x-api-key': 'loom_k' }, url('?token=d')), { token: 'loom_k', source: 'x-api-key' });
    assert.deepEqual(extractUpgradeToken({ 'sec-websocket-protocol': 'loom, loom.bearer.eyJ.x.y' }, url('?token=d')), { token: 'eyJ.x.y', source: 'subprotocol' });
    assert.deepEqual(extractUpgradeToken({}, url('?token=d&x=1')), { token: 'd', source: 'query' });
  });

  it('finds nothing when no credential is present', () => {
    assert.equal(extractUpgradeToken({ 'sec-websocket-protocol': 'loom' }, url('?token=')), null);
  });

  it('turns a non-bearer Authorization header into an empty token rather than ignoring it', () => {
    assert.deepEqual(extractUpgradeToken({ authorization: 'Basic dXNlcjpwdw==' }, url('?token=d')), { token: '', source: 'authorization' });
    assert.equal(bearerToken(undefined), null);
    assert.equal(bearerToken('bearer   abc '), 'abc');
  });
});

describe('selectSubprotocol', () => {
  it('answers loom, never the entry carrying the token', () => {
    assert.equal(selectSubprotocol(new Set(['loom.bearer.secret', 'loom'])), 'loom');
    assert.equal(selectSubprotocol(new Set(['loom.bearer.secret'])), false);
  });
});

describe('isOriginAllowed', () => {
  const host = 'gw.example:1234';
  it('lets clients without an Origin through (they still need a token)', () => {
    assert.equal(isOriginAllowed({ host }, []), true);
  });
  it('allows listed origins, any origin with *, and the same origin', () => {
    assert.equal(isOriginAllowed({ host, origin: 'https://App.example/' }, ['https://app.example']), true);
    assert.equal(isOriginAllowed({ host, origin: 'https://evil.example' }, ['*']), true);
    assert.equal(isOriginAllowed({ host, origin: 'http://gw.example:1234' }, []), true);
  });
  it('refuses other origins, including the opaque "null" origin', () => {
    assert.equal(isOriginAllowed({ host, origin: 'https://evil.example' }, ['https://app.example']), false);
    assert.equal(isOriginAllowed({ host, origin: 'null' }, []), false);
    assert.equal(isOriginAllowed({ host, origin: 'http://gw.example:9999' }, []), false);
  });
  it('drops any number of trailing slashes, from a header the size Node allows at once', () => {
    assert.equal(isOriginAllowed({ host, origin: 'https://app.example///' }, ['https://APP.example//']), true);
    // 16 KB of slashes cost the former /\/+$/ 0.37 s of CPU per upgrade request.
    assert.equal(isOriginAllowed({ host, origin: `${'/'.repeat(16_000)}x` }, ['https://app.example']), false);
    assert.equal(isOriginAllowed({ host, origin: `https://app.example${'/'.repeat(16_000)}` }, ['https://app.example']), true);
  });
});
