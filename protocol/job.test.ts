import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProtocolError } from './errors.ts';
import { parseActorId } from './ids.ts';
import { startJobRequestSchema } from './job.ts';
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
