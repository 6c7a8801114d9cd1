import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Mailbox } from './mailbox.ts';

test('messages come out in arrival order, all queued ones at once', async () => {
  const box = new Mailbox<number>({ maxMessages: 10, maxBytes: 1_000 });
  box.push(1, 1);
  box.push(2, 1);
  assert.deepEqual(await box.takeAll(), [1, 2]);
  const next = box.takeAll();
  box.push(3, 1);
  assert.deepEqual(await next, [3]);
});

test('a full mailbox refuses by count and by bytes', () => {
  const byCount = new Mailbox<string>({ maxMessages: 2, maxBytes: 1_000 });
  assert.equal(byCount.push('a', 1), 'queued');
  assert.equal(byCount.push('b', 1), 'queued');
  assert.equal(byCount.push('c', 1), 'full');
  const byBytes = new Mailbox<string>({ maxMessages: 100, maxBytes: 10 });
  assert.equal(byBytes.push('a', 8), 'queued');
  assert.equal(byBytes.push('b', 3), 'full');
  assert.equal(byBytes.push('c', 2), 'queued');
});

test('a closed mailbox hands out what is queued, then ends', async () => {
  const box = new Mailbox<number>({ maxMessages: 10, maxBytes: 100 });
  box.push(1, 1);
  box.close();
  assert.equal(box.push(2, 1), 'closed');
  assert.deepEqual(await box.takeAll(), [1]);
  assert.deepEqual(await box.takeAll(), []);
});

test('a waiting consumer wakes when the mailbox closes', async () => {
  const box = new Mailbox<number>({ maxMessages: 10, maxBytes: 100 });
  const pending = box.takeAll();
  box.close();
  assert.deepEqual(await pending, []);
});
