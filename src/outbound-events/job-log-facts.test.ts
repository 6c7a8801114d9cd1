/**
 * The relay's reader of job log entries: it reads from real encoded events
 * the same fields the full decoder gives, and refuses entries the relay
 * cannot use (not JSON, unknown type or version, a used field missing).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeJobEvent, encodeJobEvent, type JobEvent } from '../../protocol/job-events.ts';
import { JobLogFactError, readJobLogFact } from './job-log-facts.ts';

const policy = { maxAttempts: 1, stepTimeoutMs: 1_000, maxParallelSteps: 1, retryBaseMs: 0, retryMaxMs: 0 };
const events: JobEvent[] = [
  { type: 'job-created', v: 1, at: 1, kind: 'k.x', input: { a: 1 }, owner: 'user-1', idempotencyKey: null, targetDocId: null, inputHash: 'h', priority: 'batch', model: 'm', policy },
  { type: 'step-started', v: 1, at: 2, step: 'each.2', activity: 'emit', attempt: 1, requestId: null, deadlineAt: null },
  { type: 'step-succeeded', v: 1, at: 3, step: 'each.2', attempt: 2, output: { type: 'x.y', data: { n: 1 } }, usage: null, artifact: null },
  { type: 'step-attempt-failed', v: 1, at: 4, step: 's', attempt: 1, error: { code: 'e', message: 'm' }, usage: null, retryAt: 9 },
  { type: 'job-failed', v: 1, at: 5, step: null, error: { code: 'timeout', message: 'm' }, attempts: 3 },
  { type: 'job-failed', v: 1, at: 5, step: 's', error: { code: 'worker', message: 'm' }, attempts: 3 },
  { type: 'job-rejected', v: 1, at: 6, step: 'review', by: 'u', comment: null },
  { type: 'job-stuck', v: 1, at: 7, since: 3, stuckAfterMs: 4 },
  { type: 'job-succeeded', v: 1, at: 8, output: null },
];

test('reads the fields the relay uses as the full decoder does', () => {
  for (const event of events) {
    const body = encodeJobEvent(event);
    const full = decodeJobEvent(body);
    const fact = readJobLogFact(body);
    assert.equal(fact.type, full.type);
    assert.equal(fact.at, full.at);
    if (full.type === 'job-created' && fact.type === 'job-created') assert.deepEqual([fact.owner, fact.kind], [full.owner, full.kind]);
    if (full.type === 'step-started' && fact.type === 'step-started') assert.deepEqual([fact.step, fact.activity], [full.step, full.activity]);
    if (full.type === 'step-succeeded' && fact.type === 'step-succeeded') assert.deepEqual([fact.step, fact.attempt, fact.output], [full.step, full.attempt, full.output]);
    if (full.type === 'job-failed' && fact.type === 'job-failed') assert.deepEqual([fact.step, fact.errorCode], [full.step, full.error.code]);
    if (full.type === 'job-rejected' && fact.type === 'job-rejected') assert.equal(fact.step, full.step);
    if (full.type === 'job-stuck' && fact.type === 'job-stuck') assert.equal(fact.since, full.since);
  }
});

test('refuses entries it cannot use', () => {
  const bad = [
    'not json',
    '[1]',
    JSON.stringify({ type: 'job-succeeded', v: 2, at: 1, output: null }),
    JSON.stringify({ type: 'job-exploded', v: 1, at: 1 }),
    JSON.stringify({ type: 'job-succeeded', v: 1, at: -1, output: null }),
    JSON.stringify({ type: 'step-started', v: 1, at: 1, step: 's', activity: 'teleport', attempt: 1 }),
    JSON.stringify({ type: 'step-succeeded', v: 1, at: 1, step: '', attempt: 1, output: null }),
    JSON.stringify({ type: 'step-succeeded', v: 1, at: 1, step: 's', attempt: 0, output: null }),
    JSON.stringify({ type: 'job-created', v: 1, at: 1, kind: 'k' }),
    JSON.stringify({ type: 'job-failed', v: 1, at: 1, step: null, error: 'boom' }),
  ];
  for (const text of bad) assert.throws(() => readJobLogFact(new TextEncoder().encode(text)), JobLogFactError, text);
});
