/**
 * The upload flow end to end, the way a client and the job engine use it:
 * POST /v1/uploads, PUT the file to the URL it returns over real HTTP, GET
 * the upload until complete, download it, and resolve it as a job input.
 * On the filesystem store (gateway URLs) and on S3 (s3rver, real minio
 * client), with an in-memory PGlite migrated from migrations/. The principal
 * comes from a test header until auth is mounted in front.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { OpenAPIHono } from '@hono/zod-openapi';
import { API_SCOPES, type ApiScope, type AuthEnv, type Principal } from '../../auth/principal.ts';
import { createRootLogger } from '../../log.ts';
import type { ObjectStore } from '../../storage/index.ts';
import { sampleFile } from '../../testing/index.ts';
import { UploadError, UploadService } from '../../uploads/index.ts';
import { errorResponse } from '../errors.ts';
import { useUploadsFixture } from '../../testing/uploads-fixture.ts';
import { uploadsRoutes } from './uploads.ts';

const log = createRootLogger({ level: 'silent', instanceId: 'test' });
const MAX_BYTES = 1_000_000;
const fixture = useUploadsFixture(MAX_BYTES);

function principal(userId: string, scopes: readonly ApiScope[] = API_SCOPES): Principal {
  return { kind: scopes.length === API_SCOPES.length ? 'user' : 'api-key', userId, keyId: undefined, scopes: new Set(scopes) };
}

/** An app with the uploads router; `x-test-user` (and `x-test-scopes`) name the principal. */
function harness(store: ObjectStore) {
  const service = new UploadService({ db: fixture.db(), store, maxBytes: MAX_BYTES });
  const app = new OpenAPIHono<AuthEnv>();
  app.onError((err, c) => errorResponse(c, err, log));
  app.route(
    '/v1/uploads',
    uploadsRoutes({
      uploads: service,
      getPrincipal: (c) => {
        const user = c.req.header('x-test-user');
        const scopes = c.req.header('x-test-scopes');
        return user === undefined ? undefined : principal(user, scopes === undefined ? API_SCOPES : (scopes.split(',').filter(Boolean) as ApiScope[]));
      },
    }),
  );
  const call = async (method: string, path: string, user: string | undefined, body?: unknown, extra: Record<string, string> = {}) => {
    const headers: Record<string, string> = { ...extra, ...(user === undefined ? {} : { 'x-test-user': user }) };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await app.request(`http://loom.test${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> & { error?: { code: string; message: string; field?: string } } };
  };
  return { service, call };
}

interface Created {
  uploadId: string;
  objectKey: string;
  put: { url: string; method: string; headers: Record<string, string> };
  expiresAt: string;
}

for (const [name, storeOf] of [
  ['filesystem store (gateway URLs)', () => fixture.gateway().store],
  ['S3 store (s3rver)', () => fixture.s3Store()],
] as const) {
  describe(`uploads on the ${name}`, () => {
    it('go from POST to PUT to complete to download to job input', async () => {
      const { service, call } = harness(storeOf());
      const user = randomUUID();
      const file = sampleFile('mp3', 20_000);
      const created = await call('POST', '/v1/uploads', user, { filename: 'Interview (final).mp3', contentType: 'audio/mpeg', size: file.length });
      assert.equal(created.status, 201, JSON.stringify(created.json));
      const c = created.json as unknown as Created;
      assert.match(c.objectKey, new RegExp(`^uploads/${c.uploadId}/Interview_final_.mp3$`));
      assert.equal(c.put.method, 'PUT');
      assert.ok(Date.parse(c.expiresAt) > Date.now());

      const pending = await call('GET', `/v1/uploads/${c.uploadId}`, user);
      assert.equal(pending.json.status, 'pending');
      assert.equal(pending.json.download, null);
      await assert.rejects(service.resolveUploadInput(c.uploadId, principal(user)), (err: unknown) => err instanceof UploadError && err.kind === 'conflict' && err.code === 'upload-incomplete');

      const putRes = await fetch(c.put.url, { method: c.put.method, headers: c.put.headers, body: file });
      assert.equal(putRes.status, 200, await putRes.text());

      const done = await call('GET', `/v1/uploads/${c.uploadId}`, user);
      assert.equal(done.json.status, 'complete', JSON.stringify(done.json));
      assert.equal(done.json.size, file.length);
      assert.equal(done.json.filename, 'Interview (final).mp3');
      const download = done.json.download as { url: string };
      const got = await fetch(download.url);
      assert.equal(got.status, 200);
      assert.equal(got.headers.get('content-type'), 'audio/mpeg');
      assert.ok(Buffer.from(await got.arrayBuffer()).equals(file));

      const expected = { uploadId: c.uploadId, objectKey: c.objectKey, contentType: 'audio/mpeg', size: file.length, filename: 'Interview (final).mp3' };
      assert.deepEqual(await service.resolveUploadInput(c.uploadId, principal(user)), expected);
      assert.deepEqual(await service.resolveUploadInput(c.objectKey, principal(user)), expected, 'by object key');
    });

    it('fail resolveUploadInput clearly when the object is gone, or the upload is not the caller\'s', async () => {
      const store = storeOf();
      const { service, call } = harness(store);
      const user = randomUUID();
      const c = (await call('POST', '/v1/uploads', user, { filename: 'notes.md', contentType: 'text/markdown', size: 5 })).json as unknown as Created;
      assert.equal((await fetch(c.put.url, { method: 'PUT', headers: c.put.headers, body: 'hello' })).status, 200);
      assert.equal((await service.resolveUploadInput(c.uploadId, principal(user))).size, 5);

      await assert.rejects(service.resolveUploadInput(c.uploadId, principal(randomUUID())), (err: unknown) => err instanceof UploadError && err.kind === 'not-found' && err.code === 'upload-not-found');
      assert.equal((await call('GET', `/v1/uploads/${c.uploadId}`, randomUUID())).status, 404, 'another user sees nothing');
      await assert.rejects(service.resolveUploadInput(randomUUID(), principal(user)), (err: unknown) => err instanceof UploadError && err.code === 'upload-not-found');
      await assert.rejects(service.resolveUploadInput('uploads/none/x', principal(user)), (err: unknown) => err instanceof UploadError && err.code === 'upload-not-found');

      await store.delete(c.objectKey);
      await assert.rejects(service.resolveUploadInput(c.uploadId, principal(user)), (err: unknown) => {
        assert.ok(err instanceof UploadError);
        assert.equal(err.kind, 'conflict');
        assert.equal(err.code, 'upload-object-missing');
        assert.match(err.message, /notes\.md.*no longer stored/);
        return true;
      });
    });
  });
}

describe('uploads refused', () => {
  it('with 415 for a content type off the allow-list, 413 over the size limit, 400 for bad fields', async () => {
    const { call } = harness(fixture.gateway().store);
    const user = randomUUID();
    for (const contentType of ['text/html', 'image/svg+xml', 'application/x-msdownload']) {
      const r = await call('POST', '/v1/uploads', user, { filename: 'x', contentType, size: 10 });
      assert.equal(r.status, 415, contentType);
      assert.equal(r.json.error?.code, 'unsupported-media-type');
    }
    const big = await call('POST', '/v1/uploads', user, { filename: 'x.mp4', contentType: 'video/mp4', size: MAX_BYTES + 1 });
    assert.equal(big.status, 413);
    assert.equal(big.json.error?.code, 'too-large');
    for (const [body, field] of [
      [{ contentType: 'text/plain', size: 1 }, 'filename'],
      [{ filename: 'a/b', contentType: 'text/plain', size: 1 }, 'filename'],
      [{ filename: 'a', contentType: 'text/plain', size: 0 }, 'size'],
      [{ filename: 'a', contentType: 'text/plain', size: 1.5 }, 'size'],
      [{ filename: 'a', contentType: 'text/plain', size: 1, extra: true }, 'extra'],
    ] as const) {
      const r = await call('POST', '/v1/uploads', user, body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.equal(r.json.error?.field, field);
    }
    assert.equal((await call('GET', '/v1/uploads/not-a-uuid', user)).status, 400);
  });

  it('with 401 without a principal and 403 without the jobs:run scope', async () => {
    const { call } = harness(fixture.gateway().store);
    const body = { filename: 'a.txt', contentType: 'text/plain', size: 1 };
    assert.equal((await call('POST', '/v1/uploads', undefined, body)).status, 401);
    const scoped = await call('POST', '/v1/uploads', randomUUID(), body, { 'x-test-scopes': 'docs:read' });
    assert.equal(scoped.status, 403);
    assert.equal(scoped.json.error?.code, 'insufficient-scope');
  });

  it('by rejecting an S3 upload whose stored object differs from what was declared, and deleting it', async () => {
    // S3 presigned PUTs cannot bind size or type (s3rver, like S3, stores what it is sent).
    const store = fixture.s3Store();
    const { service, call } = harness(store);
    const user = randomUUID();
    const c = (await call('POST', '/v1/uploads', user, { filename: 't.txt', contentType: 'text/plain', size: 5 })).json as unknown as Created;
    assert.equal((await fetch(c.put.url, { method: 'PUT', headers: c.put.headers, body: 'far more than five bytes' })).status, 200);
    const view = await call('GET', `/v1/uploads/${c.uploadId}`, user);
    assert.equal(view.json.status, 'rejected');
    assert.match(String(view.json.rejection), /24 bytes, 5 were declared/);
    assert.equal(await store.stat(c.objectKey), null, 'the refused object is deleted');
    await assert.rejects(service.resolveUploadInput(c.uploadId, principal(user)), (err: unknown) => err instanceof UploadError && err.kind === 'refused' && err.code === 'upload-rejected');
  });
});
