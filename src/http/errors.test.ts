import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Hono } from 'hono';
import { AuthError } from '../auth/index.ts';
import { DocumentError } from '../documents/index.ts';
import { FAILURE_KINDS, InvalidInputError, RateLimitedError, ServiceError } from '../errors/index.ts';
import { createRootLogger } from '../log.ts';
import { ProtocolError } from '../../protocol/errors.ts';
import { UploadError } from '../uploads/index.ts';
import { errorResponse, HttpError, STATUS_FOR_KIND } from './errors.ts';

const log = createRootLogger({ level: 'silent', instanceId: 'test' });

async function render(err: unknown): Promise<{ status: number; body: { error: { code: string; message: string; field?: string } }; headers: Headers }> {
  const app = new Hono();
  app.get('/', () => {
    throw err;
  });
  app.onError((e, c) => errorResponse(c, e, log));
  const res = await app.request('/');
  return { status: res.status, body: (await res.json()) as never, headers: res.headers };
}

test('services raise errors by kind, and only this module turns kinds into statuses', async () => {
  const cases: Array<[unknown, number, string]> = [
    [new AuthError('token-expired', 'access token expired'), 401, 'token-expired'],
    [new AuthError('insufficient-scope', 'this API key lacks the docs:write scope'), 403, 'insufficient-scope'],
    [new DocumentError('owner-fixed', "the document's creator stays its owner", { field: 'userId' }), 409, 'owner-fixed'],
    [new DocumentError('not-a-member', 'you are not a member'), 403, 'not-a-member'],
    [new UploadError('upload-closed', 'used already'), 409, 'upload-closed'],
    [new UploadError('upload-rejected', 'not a PNG'), 422, 'upload-rejected'],
    [new UploadError('unsupported-media-type', 'no'), 415, 'unsupported-media-type'],
    [new InvalidInputError('cursor', 'not a cursor this API returned'), 400, 'invalid-request'],
    [new HttpError(404, 'not-found', 'no such thing'), 404, 'not-found'],
  ];
  for (const [err, status, code] of cases) {
    const res = await render(err);
    assert.deepEqual([res.status, res.body.error.code], [status, code], String(err));
  }
  assert.equal((await render(new DocumentError('owner-fixed', 'x', { field: 'userId' }))).body.error.field, 'userId');
  assert.equal((await render(new InvalidInputError('cursor', 'bad'))).body.error.message, 'cursor: bad');
  for (const kind of FAILURE_KINDS) assert.ok(STATUS_FOR_KIND[kind] >= 400 && STATUS_FOR_KIND[kind] < 600, kind);
});

test('401 carries WWW-Authenticate and 429 a Retry-After in whole seconds', async () => {
  assert.equal((await render(new AuthError('unauthenticated', 'credentials required'))).headers.get('www-authenticate'), 'Bearer');
  const limited = await render(new RateLimitedError('too many requests', 1_200));
  assert.equal(limited.status, 429);
  assert.equal(limited.headers.get('retry-after'), '2');
});

test('an error not meant for clients is a generic 500 that says nothing of its detail', async () => {
  class SecretError extends ServiceError {
    override readonly public = false;
  }
  for (const err of [new SecretError('conflict', 'db-detail', 'row 42 of users'), new Error('connection string postgres://x')]) {
    const res = await render(err);
    assert.deepEqual([res.status, res.body.error.code, res.body.error.message], [500, 'internal', 'internal error']);
  }
});

test("an actor answer too large for one NATS message is a 413 naming sizes, never a 500", async () => {
  const res = await render(new ProtocolError('reply-too-large', 'the reply to job/j1 get is 3145800 bytes, over the 1048576-byte limit of one NATS message (max_payload)'));
  assert.deepEqual([res.status, res.body.error.code], [413, 'reply-too-large']);
  assert.match(res.body.error.message, /3145800 bytes, over the 1048576-byte limit/);
});
