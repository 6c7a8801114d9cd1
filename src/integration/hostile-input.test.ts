/**
 * No request produces a 500 by its content. A real gateway and actor host
 * (PostgreSQL, NATS, LOOM_DOC_ACCESS=members) serve /openapi.json; every
 * operation in it is called with hostile values in each path parameter,
 * query parameter and JSON body field in turn (hostile-input-walk.ts), as a
 * freshly registered user. None may answer 5xx; a NUL or lone surrogate in
 * a body string, or a huge, infinite, negative or fractional number in a
 * numeric query parameter, must get 400 naming the field. A job naming a
 * model nobody serves is refused at creation.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { startCluster, type ClusterFixture } from './cluster-fixture.ts';
import { hostileCases, type HostileCase, type OpenApiDocument } from './hostile-input-walk.ts';

const SERVED_MODEL = 'walk-model';
let cluster: ClusterFixture;

before(async () => {
  cluster = await startCluster({
    hosts: 1,
    gateways: 1,
    env: {
      LOOM_DOC_ACCESS: 'members',
      LOOM_DEFAULT_MODEL: SERVED_MODEL,
      LOOM_RATE_LOGIN_BURST: '100000',
      LOOM_RATE_LOGIN_PER_MIN: '100000',
      LOOM_RATE_API_BURST: '1000000',
      LOOM_RATE_API_PER_S: '1000000',
    },
  });
});
after(async () => {
  await cluster.stop();
});

const base = () => cluster.gateways[0]!.httpUrl;

async function register(): Promise<string> {
  const res = await fetch(`${base()}/v1/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: `walk-${randomUUID()}@example.com`, password: 'correct horse battery' }),
  });
  const text = await res.text();
  assert.equal(res.status, 201, text);
  return (JSON.parse(text) as { tokens: { accessToken: string } }).tokens.accessToken;
}

interface Answer {
  readonly status: number;
  readonly error?: { code: string; field?: string; message: string };
}

async function send(c: HostileCase, token: string): Promise<Answer> {
  const res = await fetch(`${base()}${c.url}`, {
    method: c.method,
    headers: { authorization: `Bearer ${token}`, ...(c.body === undefined ? {} : { 'content-type': c.body.contentType }) },
    ...(c.body === undefined ? {} : { body: c.body.data }),
    signal: AbortSignal.timeout(30_000),
  });
  if (!(res.headers.get('content-type') ?? '').includes('json')) {
    // Streams (SSE, downloads) are not read: the status is the answer.
    await res.body?.cancel();
    return { status: res.status };
  }
  const body = (await res.json()) as { error?: Answer['error'] };
  return { status: res.status, ...(body.error === undefined ? {} : { error: body.error }) };
}

test('no route answers 5xx to hostile values, and refused text and numbers name their field', { timeout: 600_000 }, async () => {
  const doc = (await (await fetch(`${base()}/openapi.json`)).json()) as OpenApiDocument;
  const cases = hostileCases(doc);
  assert.ok(cases.length > 100, `only ${cases.length} cases: is the document complete?`);
  const failures: string[] = [];
  const operations = new Map<string, HostileCase[]>();
  for (const c of cases) {
    const op = c.label.split(' ').slice(0, 2).join(' ');
    operations.set(op, [...(operations.get(op) ?? []), c]);
  }
  for (const [, opCases] of operations) {
    // A fresh user per operation: logging out or deleting the account must not spoil the next one's cases.
    const token = await register();
    for (const c of opCases) {
      const answer = await send(c, token);
      if (answer.status >= 500) failures.push(`${c.label}: ${answer.status} ${JSON.stringify(answer.error)}`);
      else if (c.field !== undefined && (answer.status !== 400 || answer.error?.field !== c.field)) {
        failures.push(`${c.label}: wanted 400 naming ${c.field}, got ${answer.status} ${JSON.stringify(answer.error)}`);
      }
    }
  }
  assert.deepEqual(failures, [], `${failures.length} of ${cases.length} hostile requests answered wrongly`);
});

test('a job naming a model nobody serves, or no model name at all, is refused at creation with 400 naming `model`', async () => {
  const token = await register();
  const create = (model: string) =>
    send({ label: model, method: 'POST', url: '/v1/jobs', body: { contentType: 'application/json', data: JSON.stringify({ kind: 'document.generate', input: { topic: 'Tides' }, model }) } }, token);
  const unknown = await create('no-such-model');
  assert.equal(unknown.status, 400, JSON.stringify(unknown));
  assert.equal(unknown.error?.field, 'model');
  assert.equal(unknown.error?.code, 'unknown-model');
  const malformed = await create('two words');
  assert.deepEqual([malformed.status, malformed.error?.field], [400, 'model']);
  const served = await create(SERVED_MODEL);
  assert.equal(served.status, 201, JSON.stringify(served));
});
