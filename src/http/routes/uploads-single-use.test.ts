/**
 * An upload URL stores one file, and only a file that is what it claims to
 * be: a second PUT cannot replace it, an SVG declared as PNG is rejected,
 * and a PUT after a rejection leaves nothing behind. On the filesystem
 * store the gateway refuses such PUTs itself; on S3 (s3rver, which like S3
 * accepts every PUT to a valid presigned URL) the next look at the upload
 * refuses and deletes what the PUT stored.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { API_SCOPES, type Principal } from '../../auth/principal.ts';
import type { ObjectStore } from '../../storage/index.ts';
import { FILE_SAMPLES, sampleFile } from '../../testing/index.ts';
import { UploadError, UploadService, type CreatedUpload } from '../../uploads/index.ts';
import { useUploadsFixture } from '../../testing/uploads-fixture.ts';

const MAX_BYTES = 1_000_000;
const fixture = useUploadsFixture(MAX_BYTES);

const user = (): Principal => ({ kind: 'user', userId: randomUUID(), keyId: undefined, scopes: new Set(API_SCOPES) });

async function put(created: CreatedUpload, body: Uint8Array): Promise<{ status: number; code: string | undefined }> {
  const res = await fetch(created.put.url, { method: 'PUT', headers: created.put.headers, body });
  const text = await res.text();
  const code = res.status >= 400 ? (JSON.parse(text) as { error: { code: string } }).error.code : undefined;
  return { status: res.status, code };
}

async function download(store: ObjectStore, key: string): Promise<Buffer | null> {
  const read = await store.get(key);
  if (read === null) return null;
  const chunks: Buffer[] = [];
  for await (const chunk of read.body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

const png = sampleFile('png', 600);
const otherPng = Buffer.concat([png.subarray(0, 500), Buffer.alloc(100, 0x41)]);

for (const [name, fs, storeOf] of [
  ['filesystem store (gateway URLs)', true, () => fixture.gateway().store],
  ['S3 store (s3rver)', false, () => fixture.s3Store()],
] as const) {
  describe(`upload URLs on the ${name}`, () => {
    it('store one file: a second PUT does not replace it', async () => {
      const store = storeOf();
      const service = new UploadService({ db: fixture.db(), store, maxBytes: MAX_BYTES });
      const owner = user();
      const created = await service.create(owner, { filename: 'chart.png', contentType: 'image/png', size: png.length });
      assert.deepEqual(await put(created, png), { status: 200, code: undefined });
      assert.equal((await service.get(owner, created.uploadId)).status, 'complete');

      const second = await put(created, otherPng);
      if (fs) {
        assert.deepEqual(second, { status: 409, code: 'upload-closed' });
        assert.deepEqual(await download(store, created.objectKey), png, 'the first file is still the stored one');
        assert.equal((await service.resolveUploadInput(created.uploadId, owner)).size, png.length);
      } else {
        // S3 took it; the next look sees another version than the one checked, refuses the upload and deletes it.
        assert.equal(second.status, 200);
        const view = await service.get(owner, created.uploadId);
        assert.equal(view.status, 'rejected');
        assert.match(view.rejection ?? '', /replaced after the upload completed/);
        assert.equal(await store.stat(created.objectKey), null);
        await assert.rejects(service.resolveUploadInput(created.uploadId, owner), (err: unknown) => err instanceof UploadError && err.code === 'upload-rejected');
      }
    });

    it('reject an SVG declared as PNG, keep nothing of it, and store nothing that a later PUT sends', async () => {
      const store = storeOf();
      const service = new UploadService({ db: fixture.db(), store, maxBytes: MAX_BYTES });
      const owner = user();
      const svg = FILE_SAMPLES.svg;
      const created = await service.create(owner, { filename: 'logo.png', contentType: 'image/png', size: svg.length });
      const first = await put(created, svg);
      assert.deepEqual(first, fs ? { status: 422, code: 'upload-rejected' } : { status: 200, code: undefined });
      const view = await service.get(owner, created.uploadId);
      assert.equal(view.status, 'rejected');
      assert.match(view.rejection ?? '', /not recognisable as image\/png/);
      assert.equal(await store.stat(created.objectKey), null, 'the refused file is deleted');

      // A valid file of the declared size, through the same URL, after the rejection.
      const again = await put(created, sampleFile('png', svg.length));
      if (fs) assert.deepEqual(again, { status: 409, code: 'upload-closed' });
      else assert.equal(again.status, 200, 'S3 cannot refuse it');
      assert.equal((await service.get(owner, created.uploadId)).status, 'rejected', 'a rejected upload stays rejected');
      assert.equal(await store.stat(created.objectKey), null, 'and keeps no object');
      await assert.rejects(service.resolveUploadInput(created.uploadId, owner), (err: unknown) => err instanceof UploadError && err.code === 'upload-rejected');
    });

    it('reject a file whose bytes are another format than declared, and accept text that is text', async () => {
      const store = storeOf();
      const service = new UploadService({ db: fixture.db(), store, maxBytes: MAX_BYTES });
      const owner = user();
      const pdfAsMp3 = await service.create(owner, { filename: 'talk.mp3', contentType: 'audio/mpeg', size: FILE_SAMPLES.pdf.length });
      await put(pdfAsMp3, FILE_SAMPLES.pdf);
      const view = await service.get(owner, pdfAsMp3.uploadId);
      assert.equal(view.status, 'rejected');
      assert.match(view.rejection ?? '', /application\/pdf/);

      const csv = Buffer.from('name,score\nAda,10\n');
      const text = await service.create(owner, { filename: 'scores.csv', contentType: 'text/csv', size: csv.length });
      assert.equal((await put(text, csv)).status, 200);
      assert.equal((await service.get(owner, text.uploadId)).status, 'complete');
    });
  });
}

describe('upload URLs on the filesystem store, raced or overfilled', () => {
  it('take exactly one of several concurrent PUTs', async () => {
    const store = fixture.gateway().store;
    const service = new UploadService({ db: fixture.db(), store, maxBytes: MAX_BYTES });
    const owner = user();
    const created = await service.create(owner, { filename: 'race.png', contentType: 'image/png', size: png.length });
    const bodies = Array.from({ length: 6 }, (_, i) => Buffer.concat([png.subarray(0, 500), Buffer.alloc(100, 0x41 + i)]));
    const results = await Promise.all(bodies.map((body) => put(created, body)));
    const winners = results.flatMap((r, i) => (r.status === 200 ? [i] : []));
    assert.equal(winners.length, 1, JSON.stringify(results));
    for (const r of results) if (r.status !== 200) assert.deepEqual(r, { status: 409, code: 'upload-closed' });
    assert.deepEqual(await download(store, created.objectKey), bodies[winners[0] ?? -1]);
  });

  it('reject an upload whose streamed body passes the declared size, storing nothing', async () => {
    const store = fixture.gateway().store;
    const service = new UploadService({ db: fixture.db(), store, maxBytes: MAX_BYTES });
    const owner = user();
    const created = await service.create(owner, { filename: 'big.png', contentType: 'image/png', size: png.length });
    // No Content-Length: the gateway learns the size only while storing.
    const chunks = [png, png];
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        const next = chunks.shift();
        if (next === undefined) controller.close();
        else controller.enqueue(next);
      },
    });
    const init: RequestInit & { duplex: 'half' } = { method: 'PUT', headers: created.put.headers, body, duplex: 'half' };
    const res = await fetch(created.put.url, init);
    assert.equal(res.status, 413, await res.text());
    const view = await service.get(owner, created.uploadId);
    assert.equal(view.status, 'rejected');
    assert.match(view.rejection ?? '', /larger than the 600 bytes declared/);
    assert.equal(await store.stat(created.objectKey), null);
    assert.deepEqual(await put(created, png), { status: 409, code: 'upload-closed' });
  });
});
