/**
 * The signed gateway routes of the filesystem store, driven in-process with
 * `app.request` (the contract suite covers the happy path over real HTTP):
 * every tampering is 403, expiry is 403, a body over the signed limit is
 * 413 whether it says so up front or not, a wrong Content-Type is 415, and
 * none of those leave an object behind.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startObjectGateway, type ObjectGatewayHandle } from '../../testing/index.ts';

let gw: ObjectGatewayHandle | undefined;
const g = (): ObjectGatewayHandle => {
  if (!gw) throw new Error('gateway did not start');
  return gw;
};
before(async () => {
  gw = await startObjectGateway();
});
after(async () => {
  await gw?.dispose();
});

let n = 0;
const freshKey = () => `uploads/t${++n}/file.txt`;

async function put(url: string, body: string | Uint8Array | ReadableStream<Uint8Array>, headers: Record<string, string> = { 'content-type': 'text/plain' }): Promise<{ status: number; code: string | undefined }> {
  const init: RequestInit & { duplex?: 'half' } = { method: 'PUT', headers, body };
  if (body instanceof ReadableStream) init.duplex = 'half';
  const res = await g().app.request(url, init);
  const json = res.headers.get('content-type')?.startsWith('application/json') ? ((await res.json()) as { error?: { code: string } }) : undefined;
  return { status: res.status, code: json?.error?.code };
}

function withParam(url: string, name: string, value: string | null): string {
  const u = new URL(url);
  if (value === null) u.searchParams.delete(name);
  else u.searchParams.set(name, value);
  return u.toString();
}

describe('PUT /v1/objects/{key}', () => {
  it('stores the body under the signed key and answers with its size and etag', async () => {
    const key = freshKey();
    const signed = await g().store.presignPut(key, { contentType: 'text/plain', maxBytes: 5, ttlS: 60 });
    const res = await g().app.request(signed.url, { method: 'PUT', headers: signed.headers, body: 'hello' });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { key: string; size: number; etag: string };
    assert.equal(body.key, key);
    assert.equal(body.size, 5);
    assert.equal(res.headers.get('etag'), `"${body.etag}"`);
  });

  it('answers 403 invalid-signature for every tampered URL and stores nothing', async () => {
    const key = freshKey();
    const { url } = await g().store.presignPut(key, { contentType: 'text/plain', maxBytes: 5, ttlS: 60 });
    const sig = new URL(url).searchParams.get('sig') ?? '';
    const tampered = [
      withParam(url, 'sig', `${sig.slice(0, -2)}xx`),
      withParam(url, 'sig', null),
      withParam(url, 'max', '5000'),
      withParam(url, 'ct', 'application/pdf'),
      withParam(url, 'exp', String(Math.floor(Date.now() / 1000) + 86_400)),
      url.replace(encodeURIComponent(key), encodeURIComponent('uploads/other/file.txt')),
    ];
    for (const candidate of tampered) {
      const headers = { 'content-type': new URL(candidate).searchParams.get('ct') ?? 'text/plain' };
      assert.deepEqual(await put(candidate, 'hello', headers), { status: 403, code: 'invalid-signature' }, candidate);
    }
    const getUrl = (await g().store.presignGet(key, 60)).url;
    assert.deepEqual(await put(getUrl, 'hello'), { status: 403, code: 'invalid-signature' }, 'a GET URL used to PUT');
    assert.equal(await g().store.stat(key), null);
    assert.equal(await g().store.stat('uploads/other/file.txt'), null);
  });

  it('answers 403 url-expired for a genuine URL past its expiry', async () => {
    const key = freshKey();
    const { url, headers } = await g().withClock(() => Date.now() - 120_000).presignPut(key, { contentType: 'text/plain', maxBytes: 5, ttlS: 60 });
    assert.deepEqual(await put(url, 'hello', { ...headers }), { status: 403, code: 'url-expired' });
    assert.equal(await g().store.stat(key), null);
  });

  it('answers 413 when Content-Length is over the signed limit, before reading the body', async () => {
    const key = freshKey();
    const { url } = await g().store.presignPut(key, { contentType: 'text/plain', maxBytes: 5, ttlS: 60 });
    assert.deepEqual(await put(url, '123456', { 'content-type': 'text/plain', 'content-length': '6' }), { status: 413, code: 'too-large' });
    assert.equal(await g().store.stat(key), null);
  });

  it('answers 413 when a body without Content-Length streams past the limit, and keeps nothing', async () => {
    const key = freshKey();
    const { url } = await g().store.presignPut(key, { contentType: 'text/plain', maxBytes: 1_000, ttlS: 60 });
    let chunks = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        chunks += 1;
        if (chunks > 100) controller.close(); // far past the limit: the route must stop reading long before
        else controller.enqueue(new Uint8Array(400));
      },
    });
    assert.deepEqual(await put(url, body), { status: 413, code: 'too-large' });
    assert.ok(chunks < 100, `read ${chunks} chunks of a body it had to refuse`);
    assert.equal(await g().store.stat(key), null);
  });

  it('answers 415 for a Content-Type other than the signed one, or none', async () => {
    const key = freshKey();
    const { url } = await g().store.presignPut(key, { contentType: 'text/plain', maxBytes: 5, ttlS: 60 });
    assert.deepEqual(await put(url, 'hello', { 'content-type': 'text/html' }), { status: 415, code: 'unsupported-media-type' });
    assert.deepEqual(await put(url, new Uint8Array([1, 2]), {}), { status: 415, code: 'unsupported-media-type' });
    assert.equal((await put(url, 'hello', { 'content-type': 'Text/Plain; charset=utf-8' })).status, 200, 'parameters and case do not matter');
  });

  it('answers 400 for a path that is not an object key', async () => {
    const res = await g().app.request(`${g().baseUrl}/v1/objects/${encodeURIComponent('../etc/passwd')}?exp=1&sig=x`, { method: 'PUT', body: 'x' });
    assert.equal(res.status, 400);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'invalid-object-key');
  });
});

describe('GET /v1/objects/{key}', () => {
  it('serves the object with its type, size and etag, sandboxed', async () => {
    const key = freshKey();
    const stored = await g().store.put(key, Buffer.from('<script>alert(1)</script>'), { contentType: 'text/plain' });
    const res = await g().app.request((await g().store.presignGet(key, 60)).url);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), '<script>alert(1)</script>');
    assert.equal(res.headers.get('content-type'), 'text/plain');
    assert.equal(res.headers.get('content-length'), String(stored.size));
    assert.equal(res.headers.get('etag'), `"${stored.etag}"`);
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    assert.match(res.headers.get('content-security-policy') ?? '', /sandbox/);
  });

  it('answers 403 for a tampered or expired URL and for a PUT URL', async () => {
    const key = freshKey();
    await g().store.put(key, Buffer.from('secret'), { contentType: 'text/plain' });
    const { url } = await g().store.presignGet(key, 60);
    const expired = (await g().withClock(() => Date.now() - 120_000).presignGet(key, 60)).url;
    const putUrl = (await g().store.presignPut(key, { contentType: 'text/plain', maxBytes: 10, ttlS: 60 })).url;
    for (const [candidate, code] of [
      [withParam(url, 'exp', String(Math.floor(Date.now() / 1000) + 999)), 'invalid-signature'],
      [url.replace(encodeURIComponent(key), encodeURIComponent(freshKey())), 'invalid-signature'],
      [expired, 'url-expired'],
      [putUrl, 'invalid-signature'],
    ] as const) {
      const res = await g().app.request(candidate);
      assert.equal(res.status, 403, candidate);
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, code);
    }
  });
});
