import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Mailbox } from './mailbox.ts';

test('messages come out in arrival order, all queued ones at once', () => {
  const box = new Mailbox<number>({ maxMessages: 10, maxBytes: 1_000 });
  box.push(1, 1);
  box.push(2, 1);
  assert.deepEqual(box.takeAll(), [1, 2]);
  assert.deepEqual(box.takeAll(), []);
  box.push(3, 1);
  assert.deepEqual(box.takeAll(), [3]);
});

test('the owner hears of every queued message, and of no refused one', () => {
  let pushed = 0;
  const box = new Mailbox<string>({ maxMessages: 2, maxBytes: 1_000 }, () => (pushed += 1));
  box.push('a', 1);
  box.push('b', 1);
  assert.equal(box.push('c', 1), 'full');
  assert.equal(pushed, 2);
  box.close();
  assert.equal(box.push('d', 1), 'closed');
  assert.equal(pushed, 2);
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

test('an empty mailbox takes one message larger than its byte limit, and nothing beside it', () => {
  const box = new Mailbox<string>({ maxMessages: 100, maxBytes: 1_024 });
  assert.equal(box.push('near 1 MiB', 1_000_000), 'queued');
  assert.equal(box.push('small', 1), 'full');
  assert.deepEqual(box.takeAll(), ['near 1 MiB']);
  assert.equal(box.push('near 1 MiB again', 1_000_000), 'queued');
});

test('a closed mailbox hands out what is queued, then nothing', () => {
  const box = new Mailbox<number>({ maxMessages: 10, maxBytes: 100 });
  box.push(1, 1);
  box.close();
  assert.equal(box.push(2, 1), 'closed');
  assert.deepEqual(box.takeAll(), [1]);
  assert.deepEqual(box.takeAll(), []);
});
