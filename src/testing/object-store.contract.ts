/**
 * The behaviour every ObjectStore adapter must show, as one node:test suite
 * each adapter's test file runs against its own backend (the pattern of
 * snapshot-store.contract.ts). Presigned URLs are exercised the way clients
 * use them: real `fetch` over HTTP to whatever URL the store hands out (S3
 * for S3ObjectStore, the gateway's /v1/objects routes for FsObjectStore).
 * Every test works under a fresh random prefix.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { InvalidObjectKeyError, ObjectTooLargeError } from '../../actors/ports/index.ts';
import { InvalidObjectRequestError } from '../storage/objects/object-store-error.ts';
import type { ObjectRead, ObjectStore } from '../storage/objects/object-store.ts';

/** An opened adapter under test. */
export interface ObjectStoreFixture {
  readonly store: ObjectStore;
  /** A store over the same backend whose clock reads `clock()` (for URLs that are already expired). */
  withClock(clock: () => number): ObjectStore;
  close(): Promise<void>;
}

/**
 * Registers the ObjectStore contract as a `describe` block named after the adapter.
 * `open` runs once before the block's tests, `close` once after them.
 */
export function objectStoreContract(name: string, open: () => Promise<ObjectStoreFixture>): void {
  describe(`ObjectStore contract: ${name}`, () => {
    let fixture: ObjectStoreFixture | undefined;
    const s = (): ObjectStore => {
      if (!fixture) throw new Error('fixture did not open');
      return fixture.store;
    };
    before(async () => {
      fixture = await open();
    });
    after(async () => {
      await fixture?.close();
    });

    it('returns null from get and stat for a key never written', async () => {
      const key = `${fresh()}/missing.bin`;
      assert.equal(await s().get(key), null);
      assert.equal(await s().stat(key), null);
    });

    it('stores bytes with content type and metadata, and reads them back exactly', async () => {
      const key = `${fresh()}/a.bin`;
      const bytes = new Uint8Array(randomBytes(300_000));
      const put = await s().put(key, bytes, { contentType: 'application/pdf', metadata: { 'job-id': 'j1', step: 'compose' } });
      assert.equal(put.key, key);
      assert.equal(put.size, bytes.byteLength);
      assert.ok(put.etag.length > 0);
      const info = await s().stat(key);
      assert.ok(info);
      assert.equal(info.size, bytes.byteLength);
      assert.equal(info.etag, put.etag);
      assert.equal(info.contentType, 'application/pdf');
      assert.deepEqual(info.metadata, { 'job-id': 'j1', step: 'compose' });
      assert.ok(info.lastModified instanceof Date && !Number.isNaN(info.lastModified.getTime()));
      assertBytes(await readAll(await s().get(key)), bytes);
    });

    it('stores a stream of many chunks and reports its size', async () => {
      const key = `${fresh()}/stream.txt`;
      const chunks = Array.from({ length: 40 }, () => randomBytes(50_000));
      const put = await s().put(key, Readable.from(chunks), { contentType: 'text/plain' });
      assert.equal(put.size, 2_000_000);
      assertBytes(await readAll(await s().get(key)), Buffer.concat(chunks));
    });

    it('stores an empty object', async () => {
      const key = `${fresh()}/empty`;
      assert.equal((await s().put(key, new Uint8Array(0), { contentType: 'text/plain' })).size, 0);
      assert.equal((await s().stat(key))?.size, 0);
      assertBytes(await readAll(await s().get(key)), new Uint8Array(0));
    });

    it('replaces an object on put, with a new etag', async () => {
      const key = `${fresh()}/doc.md`;
      const first = await s().put(key, bytesOf('first'), { contentType: 'text/markdown' });
      const second = await s().put(key, bytesOf('second version'), { contentType: 'text/plain' });
      assert.notEqual(second.etag, first.etag);
      const info = await s().stat(key);
      assert.equal(info?.contentType, 'text/plain');
      assert.equal(info?.size, 14);
      assertBytes(await readAll(await s().get(key)), bytesOf('second version'));
    });

    it('writes once with putIfAbsent: a second call reports the existing object and changes nothing', async () => {
      const key = `${fresh()}/artifact.json`;
      const first = await s().putIfAbsent(key, bytesOf('{"v":1}'), { contentType: 'application/json' });
      assert.equal(first.existing, false);
      const again = await s().putIfAbsent(key, Readable.from([bytesOf('{"v":2, "longer": true}')]), { contentType: 'application/json' });
      assert.deepEqual(again, { key, size: first.size, etag: first.etag, existing: true });
      assertBytes(await readAll(await s().get(key)), bytesOf('{"v":1}'));
    });

    it('refuses a body over maxBytes with ObjectTooLargeError and keeps what was stored before', async () => {
      const key = `${fresh()}/limited`;
      await s().put(key, bytesOf('old'), { contentType: 'text/plain' });
      await assert.rejects(s().put(key, new Uint8Array(11), { contentType: 'text/plain', maxBytes: 10 }), ObjectTooLargeError);
      const stream = Readable.from([randomBytes(6), randomBytes(6)]);
      await assert.rejects(s().put(key, stream, { contentType: 'text/plain', maxBytes: 10 }), ObjectTooLargeError);
      assertBytes(await readAll(await s().get(key)), bytesOf('old'));
      const fresh2 = `${fresh()}/never`;
      await assert.rejects(s().putIfAbsent(fresh2, Readable.from([randomBytes(20)]), { contentType: 'text/plain', maxBytes: 10 }), ObjectTooLargeError);
      assert.equal(await s().stat(fresh2), null);
    });

    it('accepts a body of exactly maxBytes', async () => {
      const key = `${fresh()}/exact`;
      assert.equal((await s().put(key, Readable.from([randomBytes(10)]), { contentType: 'text/plain', maxBytes: 10 })).size, 10);
    });

    it('deletes an object, and deleting a missing one is fine', async () => {
      const key = `${fresh()}/gone`;
      await s().put(key, bytesOf('x'), { contentType: 'text/plain' });
      await s().delete(key);
      assert.equal(await s().stat(key), null);
      assert.equal(await s().get(key), null);
      await s().delete(key);
    });

    it('deletes by string prefix, as S3 does, and nothing else', async () => {
      const root = fresh();
      const keys = ['docs/a/1', 'docs/a/2', 'docs/a/x/y', 'docs/ab/1', 'docs/b/1', 'docs/a'].map((k) => `${root}/${k}`);
      for (const key of keys) await s().put(key, bytesOf(key), { contentType: 'text/plain' });
      assert.equal(await s().deletePrefix(`${root}/docs/a/`), 3);
      assert.deepEqual(await present(s(), keys), [`${root}/docs/ab/1`, `${root}/docs/b/1`, `${root}/docs/a`]);
      assert.equal(await s().deletePrefix(`${root}/docs/a`), 2); // 'docs/a' and 'docs/ab/1'
      assert.deepEqual(await present(s(), keys), [`${root}/docs/b/1`]);
      assert.equal(await s().deletePrefix(`${root}/nothing/`), 0);
      // A key whose folder was emptied can be written again.
      await s().put(`${root}/docs/a/1`, bytesOf('back'), { contentType: 'text/plain' });
      assertBytes(await readAll(await s().get(`${root}/docs/a/1`)), bytesOf('back'));
    });

    it('rejects unsafe keys and prefixes with InvalidObjectKeyError on every operation', async () => {
      const bad = ['', '../x', 'a/../b', 'a/./b', 'a//b', '/a', 'a/', 'a b', 'ä', '.hidden', 'a/.git', 'a~b', 'a\\b', 'a\nb', 'x'.repeat(513)];
      for (const key of bad) {
        await assert.rejects(s().put(key, bytesOf('x'), { contentType: 'text/plain' }), InvalidObjectKeyError, `put ${JSON.stringify(key)}`);
        await assert.rejects(s().putIfAbsent(key, bytesOf('x'), { contentType: 'text/plain' }), InvalidObjectKeyError);
        await assert.rejects(s().get(key), InvalidObjectKeyError);
        await assert.rejects(s().stat(key), InvalidObjectKeyError);
        await assert.rejects(s().delete(key), InvalidObjectKeyError);
        await assert.rejects(s().presignGet(key, 60), InvalidObjectKeyError);
        await assert.rejects(s().presignPut(key, { contentType: 'text/plain', maxBytes: 1, ttlS: 60 }), InvalidObjectKeyError);
      }
      for (const prefix of ['', '../', 'a//', '/a', 'a b']) await assert.rejects(s().deletePrefix(prefix), InvalidObjectKeyError, `prefix ${JSON.stringify(prefix)}`);
    });

    it('rejects unusable content types, metadata and ttls', async () => {
      const key = `${fresh()}/x`;
      await assert.rejects(s().put(key, bytesOf('x'), { contentType: 'not a type' }), InvalidObjectRequestError);
      await assert.rejects(s().put(key, bytesOf('x'), { contentType: 'text/plain', metadata: { Upper: 'x' } }), InvalidObjectRequestError);
      await assert.rejects(s().put(key, bytesOf('x'), { contentType: 'text/plain', metadata: { 'content-type': 'x' } }), InvalidObjectRequestError);
      await assert.rejects(s().put(key, bytesOf('x'), { contentType: 'text/plain', metadata: { k: 'line\nbreak' } }), InvalidObjectRequestError);
      await assert.rejects(s().presignGet(key, 0), RangeError);
      await assert.rejects(s().presignGet(key, 8 * 24 * 3600), RangeError);
      assert.equal(await s().stat(key), null);
    });

    it('round-trips through a presigned PUT and a presigned GET over HTTP', async () => {
      const key = `${fresh()}/uploads/notes.md`;
      const bytes = randomBytes(64 * 1024);
      const put = await s().presignPut(key, { contentType: 'text/markdown', maxBytes: bytes.length, ttlS: 60 });
      assert.equal(put.method, 'PUT');
      assert.deepEqual(put.headers, { 'content-type': 'text/markdown' });
      assert.ok(put.expiresAt.getTime() > Date.now());
      const putRes = await fetch(put.url, { method: put.method, headers: put.headers, body: bytes });
      assert.equal(putRes.status, 200, await putRes.text());
      const info = await s().stat(key);
      assert.equal(info?.size, bytes.length);
      assert.equal(info?.contentType, 'text/markdown');

      const get = await s().presignGet(key, 60);
      assert.equal(get.method, 'GET');
      const getRes = await fetch(get.url);
      assert.equal(getRes.status, 200);
      assert.equal(getRes.headers.get('content-type'), 'text/markdown');
      assertBytes(new Uint8Array(await getRes.arrayBuffer()), bytes);
    });

    it('answers a presigned GET of a missing object with 404', async () => {
      const get = await s().presignGet(`${fresh()}/absent`, 60);
      const res = await fetch(get.url);
      await res.body?.cancel();
      assert.equal(res.status, 404);
    });

    it('refuses presigned URLs once they have expired, with 403', async () => {
      if (!fixture) throw new Error('fixture did not open');
      const key = `${fresh()}/late`;
      await s().put(key, bytesOf('late'), { contentType: 'text/plain' });
      const anHourAgo = fixture.withClock(() => Date.now() - 3_600_000);
      const get = await anHourAgo.presignGet(key, 60);
      assert.ok(get.expiresAt.getTime() < Date.now());
      const getRes = await fetch(get.url);
      await getRes.body?.cancel();
      assert.equal(getRes.status, 403);
      const put = await anHourAgo.presignPut(key, { contentType: 'text/plain', maxBytes: 10, ttlS: 60 });
      const putRes = await fetch(put.url, { method: 'PUT', headers: put.headers, body: bytesOf('new') });
      await putRes.body?.cancel();
      assert.equal(putRes.status, 403);
      assertBytes(await readAll(await s().get(key)), bytesOf('late'));
    });

    it('enforces a presigned upload limits where the store says it does (413 too large, 415 wrong type)', async (t) => {
      if (!s().enforcesUploadLimits) {
        t.skip('this store cannot bind limits into a presigned PUT; its owner checks the stored object instead');
        return;
      }
      const key = `${fresh()}/limited.txt`;
      const put = await s().presignPut(key, { contentType: 'text/plain', maxBytes: 100, ttlS: 60 });
      const tooBig = await fetch(put.url, { method: 'PUT', headers: put.headers, body: randomBytes(101) });
      assert.equal(tooBig.status, 413);
      assert.equal(((await tooBig.json()) as { error: { code: string } }).error.code, 'too-large');
      const wrongType = await fetch(put.url, { method: 'PUT', headers: { 'content-type': 'application/pdf' }, body: randomBytes(10) });
      assert.equal(wrongType.status, 415);
      await wrongType.body?.cancel();
      assert.equal(await s().stat(key), null);
    });
  });
}

function fresh(): string {
  return `contract-${randomUUID()}`;
}

function bytesOf(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, 'utf8'));
}

async function readAll(read: ObjectRead | null): Promise<Uint8Array> {
  assert.ok(read, 'expected an object, got null');
  const chunks: Buffer[] = [];
  for await (const chunk of read.body) chunks.push(chunk as Buffer);
  return new Uint8Array(Buffer.concat(chunks));
}

async function present(store: ObjectStore, keys: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const key of keys) if ((await store.stat(key)) !== null) out.push(key);
  return out;
}

function assertBytes(actual: Uint8Array, expected: Uint8Array): void {
  assert.equal(actual.byteLength, expected.byteLength, 'length');
  assert.ok(Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength).equals(Buffer.from(expected.buffer, expected.byteOffset, expected.byteLength)), 'bytes differ');
}
