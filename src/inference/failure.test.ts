import { test } from 'node:test';
import assert from 'node:assert/strict';
import { APIConnectionError, APIConnectionTimeoutError, APIError } from 'openai';
import { backoffDelayMs, classifyCallError, ModelOutputError } from './failure.ts';

const status = (s: number) => APIError.generate(s, { error: { message: `status ${s}` } }, undefined, new Headers());

test('4xx answers are terminal except 408 and 429; 5xx, network and timeouts are retried', () => {
  for (const s of [400, 401, 403, 404, 422]) assert.equal(classifyCallError(status(s), undefined).terminal, true, String(s));
  for (const s of [408, 429, 500, 502, 503]) assert.equal(classifyCallError(status(s), undefined).terminal, false, String(s));
  assert.equal(classifyCallError(new APIConnectionError({ message: 'refused' }), undefined).terminal, false);
  assert.equal(classifyCallError(new APIConnectionTimeoutError(), undefined).terminal, false);
  assert.equal(classifyCallError(new Error('socket hang up'), undefined).terminal, false);
  assert.deepEqual(classifyCallError(new ModelOutputError('content-refused', 'filtered'), undefined), { terminal: true, code: 'content-refused', message: 'filtered' });
});

test('the worker\'s own abort reason decides: cancel is terminal, timeout and shutdown retry', () => {
  const aborted = new Error('aborted');
  assert.deepEqual(classifyCallError(aborted, 'cancelled').terminal, true);
  assert.equal(classifyCallError(aborted, 'cancelled').code, 'cancelled');
  assert.equal(classifyCallError(aborted, 'timeout').code, 'timeout');
  assert.equal(classifyCallError(aborted, 'shutdown').terminal, false);
});

test('backoff doubles per delivery up to the cap, jittered into the upper half', () => {
  const policy = { initialMs: 100, maxMs: 1_000 };
  assert.deepEqual([1, 2, 3, 4, 5, 40].map((n) => backoffDelayMs(n, policy, () => 1)), [100, 200, 400, 800, 1_000, 1_000]);
  assert.deepEqual([1, 2, 5].map((n) => backoffDelayMs(n, policy, () => 0)), [50, 100, 500]);
});
