import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ACTIVITY_LIMITS,
  activityConsumerName,
  activityTaskSubject,
  decodeActivityComplete,
  decodeActivityHeartbeat,
  decodeActivityTask,
  encodeActivity,
  parseActivityTaskSubject,
  parseWorkerPresenceKey,
  workerPresenceKey,
  type ActivityTask,
} from './activity.ts';
import { ProtocolError } from './errors.ts';

const ids = { v: 1, taskId: 'job_a.work.1', jobId: 'job_a', step: 'work', attempt: 1, workerId: 'w-1' } as const;
const malformed = (pattern: RegExp) => (err: unknown) => err instanceof ProtocolError && err.code === 'malformed-message' && pattern.test(err.message);

test('task subjects and consumer names round-trip and refuse bad queue names', () => {
  assert.equal(activityTaskSubject('extract-audio', 'interactive'), 'activity.task.extract-audio.interactive');
  assert.deepEqual(parseActivityTaskSubject('activity.task.extract-audio.batch'), { queue: 'extract-audio', priority: 'batch' });
  assert.equal(activityConsumerName('tts', 'batch'), 'activity-tts-batch');
  assert.throws(() => activityTaskSubject('Has.Dots', 'batch'), malformed(/queue/));
  assert.throws(() => parseActivityTaskSubject('activity.task.q.urgent'), (e: unknown) => e instanceof ProtocolError && e.code === 'invalid-subject');
});

test('presence keys round-trip; other keys are not presence keys', () => {
  const key = workerPresenceKey('inference', '=UXdlbi8y', 'node-1');
  assert.deepEqual(parseWorkerPresenceKey(key), { kind: 'inference', queue: '=UXdlbi8y', workerId: 'node-1' });
  assert.equal(parseWorkerPresenceKey('lease.x.y'), null);
  assert.equal(parseWorkerPresenceKey('service.q'), null);
  assert.throws(() => workerPresenceKey('service', 'q', 'has space'), malformed(/worker id/));
});

test('a task decodes; unknown fields, another version and bad timeouts are refused naming the field', () => {
  const task: ActivityTask = { v: 1, taskId: 'job_a.work.1', jobId: 'job_a', step: 'work', attempt: 1, queue: 'q', input: { a: 1 }, startToCloseMs: 1_000, heartbeatTimeoutMs: null, enqueuedAt: 5 };
  assert.deepEqual(decodeActivityTask(encodeActivity(task)), task);
  assert.throws(() => decodeActivityTask(encodeActivity({ ...task, v: 2 } as unknown as ActivityTask)), malformed(/v/));
  assert.throws(() => decodeActivityTask(encodeActivity({ ...task, extra: 1 } as unknown as ActivityTask)), malformed(/extra|Unrecognized/));
  assert.throws(() => decodeActivityTask(encodeActivity({ ...task, startToCloseMs: 0 })), malformed(/startToCloseMs/));
});

test('completions: ok with output, or a failure with code and retryable; anything else is refused', () => {
  assert.deepEqual(decodeActivityComplete(encodeActivity({ ...ids, outcome: { ok: true, output: [1] } })).outcome, { ok: true, output: [1] });
  const failed = decodeActivityComplete(encodeActivity({ ...ids, outcome: { ok: false, error: { code: 'x', message: 'y' }, retryable: false } }));
  assert.deepEqual(failed.outcome, { ok: false, error: { code: 'x', message: 'y' }, retryable: false });
  const bad = (body: unknown) => new TextEncoder().encode(JSON.stringify(body));
  assert.throws(() => decodeActivityComplete(bad({ ...ids, outcome: { ok: false, error: { code: 'x', message: 'y' } } })), malformed(/outcome/));
  assert.throws(() => decodeActivityComplete(bad({ ...ids, attempt: 0, outcome: { ok: true } })), malformed(/attempt/));
  assert.throws(() => decodeActivityComplete(bad({ ...ids, taskId: 'no spaces allowed', outcome: { ok: true } })), malformed(/taskId/));
  assert.throws(() => decodeActivityComplete(new Uint8Array(ACTIVITY_LIMITS.maxMessageBytes + 1)), malformed(/more than/));
  assert.throws(() => decodeActivityComplete(new TextEncoder().encode('nope')), malformed(/JSON/));
});

test('heartbeat progress is bounded', () => {
  assert.equal(decodeActivityHeartbeat(encodeActivity({ ...ids, progress: { pct: 40 } })).progress !== undefined, true);
  assert.throws(() => decodeActivityHeartbeat(encodeActivity({ ...ids, progress: 'p'.repeat(ACTIVITY_LIMITS.maxProgressBytes) })), malformed(/progress/));
});

test('a completion whose output or error the job could not record as it is is refused naming the field', () => {
  const raw = (text: string) => new TextEncoder().encode(text);
  const head = JSON.stringify(ids).slice(0, -1);
  assert.throws(() => decodeActivityComplete(raw(`${head},"outcome":{"ok":true,"output":{"n":1e400}}}`)), malformed(/outcome\.output\.n must be a finite number/));
  assert.throws(() => decodeActivityComplete(raw(`${head},"outcome":{"ok":true,"output":"a\\u0000b"}}`)), malformed(/outcome\.output must not contain NUL/));
  assert.throws(
    () => decodeActivityComplete(raw(`${head},"outcome":{"ok":false,"error":{"code":"x","message":"\\ud800"},"retryable":true}}`)),
    malformed(/outcome\.error\.message must not contain NUL/),
  );
  assert.throws(() => decodeActivityComplete(raw(`${head},"outcome":{"ok":true,"output":${'['.repeat(5_000)}${']'.repeat(5_000)}}}`)), malformed(/nested deeper than 64 levels/));
});
