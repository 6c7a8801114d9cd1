import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkEventPatterns, matchesEventPatterns } from './event-patterns.ts';
import { WebhookError } from './webhook-error.ts';

test('job.* takes one token below job; exact types match themselves only', () => {
  assert.equal(matchesEventPatterns(['job.*'], 'job.succeeded'), true);
  assert.equal(matchesEventPatterns(['job.*'], 'job.step.succeeded'), false);
  assert.equal(matchesEventPatterns(['job.step.*'], 'job.step.succeeded'), true);
  assert.equal(matchesEventPatterns(['discovery.completed'], 'discovery.completed'), true);
  assert.equal(matchesEventPatterns(['discovery.completed'], 'discovery.completed-late'), false);
  assert.equal(matchesEventPatterns(['job.*'], 'jobs.created'), false);
});

test('bad patterns are refused naming the entry', () => {
  for (const [patterns, field] of [[['job.**'], 'events.0'], [['job.succeeded', 'JOB.x'], 'events.1'], [['*'], 'events.0'], [[], 'events']] as const) {
    assert.throws(() => checkEventPatterns(patterns), (err) => err instanceof WebhookError && err.field === field, JSON.stringify(patterns));
  }
  assert.deepEqual(checkEventPatterns(['job.*', 'job.*', 'doc.updated']), ['job.*', 'doc.updated']);
});
