import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GatewayUrlError, GatewayUrlSigner, type GatewayGrant } from './gateway-url-signer.ts';

const signer = new GatewayUrlSigner(new Uint8Array(32).fill(7), () => 'http://gw.example:8080/');
const now = 1_800_000_000_000;
const grant: GatewayGrant = { method: 'PUT', key: 'uploads/u1/a.md', expiresAtS: now / 1000 + 60, contentType: 'text/markdown', maxBytes: 100 };

function queryOf(url: string): Record<string, string> {
  return Object.fromEntries(new URL(url).searchParams);
}

function refusal(code: string) {
  return (err: unknown) => err instanceof GatewayUrlError && err.code === code;
}

describe('GatewayUrlSigner', () => {
  it('signs a URL on the objects route that verifies to the same grant', () => {
    const url = signer.url(grant);
    assert.ok(url.startsWith('http://gw.example:8080/v1/objects/uploads%2Fu1%2Fa.md?'), url);
    assert.deepEqual(signer.verify('PUT', grant.key, queryOf(url), now), grant);
  });

  it('refuses a URL with any signed part changed', () => {
    const q = queryOf(signer.url(grant));
    const tampered: Array<[string, 'GET' | 'PUT', string, Record<string, string>]> = [
      ['signature', 'PUT', grant.key, { ...q, sig: `${q.sig!.slice(0, -1)}${q.sig!.endsWith('A') ? 'B' : 'A'}` }],
      ['max', 'PUT', grant.key, { ...q, max: '1000000' }],
      ['content type', 'PUT', grant.key, { ...q, ct: 'application/pdf' }],
      ['expiry', 'PUT', grant.key, { ...q, exp: String(Number(q.exp) + 3600) }],
      ['key', 'PUT', 'uploads/u1/b.md', q],
      ['method', 'GET', grant.key, q],
      ['missing max', 'PUT', grant.key, { exp: q.exp!, ct: q.ct!, sig: q.sig! }],
      ['missing signature', 'PUT', grant.key, { exp: q.exp!, ct: q.ct!, max: q.max! }],
      ['non-canonical number', 'PUT', grant.key, { ...q, max: '0100' }],
    ];
    for (const [what, method, key, query] of tampered) {
      assert.throws(() => signer.verify(method, key, query, now), refusal('invalid-signature'), what);
    }
  });

  it('refuses a genuine URL from its expiry second on', () => {
    const q = queryOf(signer.url(grant));
    assert.doesNotThrow(() => signer.verify('PUT', grant.key, q, grant.expiresAtS * 1000 - 1));
    assert.throws(() => signer.verify('PUT', grant.key, q, grant.expiresAtS * 1000), refusal('url-expired'));
  });

  it('refuses URLs signed with another key', () => {
    const other = new GatewayUrlSigner(new Uint8Array(32).fill(8), () => 'http://gw.example:8080');
    assert.throws(() => signer.verify('PUT', grant.key, queryOf(other.url(grant)), now), refusal('invalid-signature'));
  });

  it('refuses a signing key shorter than 32 bytes', () => {
    assert.throws(() => new GatewayUrlSigner(new Uint8Array(31), () => ''), RangeError);
  });
});
