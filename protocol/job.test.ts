import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProtocolError } from './errors.ts';
import { parseActorId } from './ids.ts';
import { approveJobRequestSchema, cancelJobRequestSchema, startJobRequestSchema } from './job.ts';
import { decodeJson } from './reply.ts';
import { decodeSocketClientFrame, jobChannel, parseJobChannel, SocketFrameError } from './socket.ts';
import { jobLogSubject, parseDocLogSubject, parseJobLogSubject } from './subjects.ts';

test('job log subjects round-trip for every id spelling and are not document subjects', () => {
  for (const raw of ['job_abc', 'team/jobs:1', 'ünï code']) {
    const id = parseActorId(raw);
    assert.equal(parseJobLogSubject(jobLogSubject(id)), id);
    assert.throws(() => parseDocLogSubject(jobLogSubject(id)), ProtocolError);
  }
  for (const bad of ['log.job', 'log.doc.x', 'log.job.=!!', 'log.job.a.b']) assert.throws(() => parseJobLogSubject(bad), ProtocolError, bad);
});

test('start requests take defaults and refuse unknown fields and bad kinds or keys', () => {
  const parsed = startJobRequestSchema.parse({ kind: 'document.generate', input: { topic: 't' }, owner: 'u1' });
  assert.deepEqual(
    { idempotencyKey: parsed.idempotencyKey, targetDocId: parsed.targetDocId, priority: parsed.priority, model: parsed.model },
    { idempotencyKey: null, targetDocId: null, priority: 'batch', model: null },
  );
  for (const bad of [
    { kind: 'Document', input: {}, owner: 'u' },
    { kind: 'document.generate', input: {}, owner: '' },
    { kind: 'document.generate', input: {}, owner: 'u', idempotencyKey: 'has space' },
    { kind: 'document.generate', input: {}, owner: 'u', extra: true },
  ]) {
    assert.equal(startJobRequestSchema.safeParse(bad).success, false, JSON.stringify(bad));
  }
});

test('socket frames are validated: malformed ones and unknown types are told apart', () => {
  assert.deepEqual(decodeSocketClientFrame('{"type":"subscribe","channel":"job:j1","lastEventId":"42"}'), { type: 'subscribe', channel: 'job:j1', lastEventId: 42 });
  assert.deepEqual(decodeSocketClientFrame('{"type":"ping"}'), { type: 'ping' });
  const reason = (text: string) => {
    try {
      decodeSocketClientFrame(text);
    } catch (err) {
      assert.ok(err instanceof SocketFrameError);
      return err.reason;
    }
    return 'accepted';
  };
  assert.equal(reason('nope'), 'malformed');
  assert.equal(reason('[1]'), 'malformed');
  assert.equal(reason('{"type":"subscribe"}'), 'malformed');
  assert.equal(reason('{"type":"subscribe","channel":"job:j1","lastEventId":-1}'), 'malformed');
  assert.equal(reason('{"type":"teleport"}'), 'unknown-type');
  assert.equal(reason(`{"type":"ping","pad":"${'x'.repeat(20_000)}"}`), 'malformed');
});

test('job channels name a job and nothing else', () => {
  const id = parseActorId('a/b c');
  assert.equal(parseJobChannel(jobChannel(id)), id);
  assert.throws(() => parseJobChannel('doc:x'), (err: unknown) => err instanceof ProtocolError && err.code === 'invalid-subject');
  assert.throws(() => parseJobChannel('job:'), (err: unknown) => err instanceof ProtocolError && err.code === 'invalid-id');
});

test('start, cancel and approve refuse what the job log or its projection could not keep, naming the field', () => {
  const body = (text: string) => new TextEncoder().encode(text);
  const refused = (schema: Parameters<typeof decodeJson>[1], text: string, pattern: RegExp) =>
    assert.throws(() => decodeJson(body(text), schema, 'request'), (err: unknown) => err instanceof ProtocolError && err.code === 'malformed-message' && pattern.test(err.message), text.slice(0, 120));
  const start = (fields: string) => `{"kind":"demo.one","owner":"u",${fields}}`;
  // 1e400 parses to Infinity, which the log would record as null.
  refused(startJobRequestSchema, start('"input":{"n":1e400}'), /input\.n must be a finite number/);
  // jsonb and text columns cannot hold U+0000 or a lone surrogate: the projection row would be refused.
  refused(startJobRequestSchema, start('"input":{"topic":"a\\u0000b"}'), /input\.topic must not contain NUL/);
  refused(startJobRequestSchema, start('"input":{"a\\ud800":1}'), /input\.a\S* has a key that must not contain NUL/);
  refused(startJobRequestSchema, `{"kind":"demo.one","owner":"u\\u0000","input":{}}`, /owner must not contain NUL/);
  // Nesting past the stack of JSON.stringify and of the definition's validator threw RangeError (an internal error).
  const deep = (n: number, leaf: string) => '{"not":'.repeat(n) + leaf + '}'.repeat(n);
  refused(startJobRequestSchema, start(`"input":{"x":${'['.repeat(20_000)}${']'.repeat(20_000)}}`), /input\.x(\.0)+ is nested deeper than 64 levels/);
  const definition = `{"kind":"demo.one","input":{"type":"object"},"steps":[{"id":"a","type":"approval","when":${deep(5_000, '{"path":"input.x","exists":true}')}}]}`;
  refused(startJobRequestSchema, start(`"input":{},"pipeline":{"kind":"demo.one","version":1,"definition":${definition}}`), /pipeline\.definition\.steps\.0\.when(\.not)+ is nested deeper than 64 levels/);
  refused(cancelJobRequestSchema, '{"by":"u","reason":"x\\u0000"}', /reason must not contain NUL/);
  refused(approveJobRequestSchema, '{"by":"u","approved":false,"comment":"\\udc00 lone"}', /comment must not contain NUL/);
  // Surrogate pairs (emoji) and ordinary nesting are fine.
  assert.equal(decodeJson(body(start('"input":{"topic":"🌊","deep":[[[1]]]}')), startJobRequestSchema, 'request').owner, 'u');
});
