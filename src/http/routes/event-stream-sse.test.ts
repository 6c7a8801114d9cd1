/**
 * The SSE pump's bounds, with a feed written for the test (the real feeds,
 * over NATS, are covered by the job and agent-session HTTP tests): a slow
 * client is cut off once what waits for it passes MAX_QUEUED_CHARS, and a
 * user holds at most MAX_STREAMS_PER_USER streams at once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Hono } from 'hono';
import { createRootLogger } from '../../log.ts';
import { eventStreamResponse, MAX_QUEUED_CHARS, MAX_STREAMS_PER_USER, openStreamsOf, type SseFeed } from './event-stream-sse.ts';

const logger = createRootLogger({ level: 'silent', instanceId: 'sse-test' });

/** A feed that hands over `items` at once and then stays open until the stream ends. */
function feedOf(userId: string, items: readonly string[]): SseFeed<string> {
  return {
    async follow({ signal, onItem, onEnd }) {
      for (const item of items) onItem(item);
      signal.addEventListener('abort', () => onEnd('aborted'), { once: true });
    },
    toMessage: (item) => ({ event: 'e', data: item }),
    logger,
    bindings: { test: 'sse' },
    userId,
  };
}

function appOf(feed: (c: unknown) => SseFeed<string>): Hono {
  const app = new Hono();
  app.get('/s', (c) => eventStreamResponse(c, feed(c)));
  app.onError((err, c) => c.json({ error: err.message }, (err as { kind?: string }).kind === 'rate-limited' ? 429 : 500));
  return app;
}

async function readAll(res: Response): Promise<string> {
  return await res.text();
}

test('a client that does not read is cut off once the queued text passes the bound, not buffered without end', async () => {
  const item = 'x'.repeat(1024 * 1024);
  const count = Math.ceil((2 * MAX_QUEUED_CHARS) / item.length);
  const res = await appOf(() => feedOf('slow', Array.from({ length: count }, () => item))).request('/s');
  const body = await readAll(res);
  const delivered = body.split('event: e\n').length - 1;
  assert.ok(delivered > 0 && delivered < count, `${delivered} of ${count} items delivered before the cut`);
  assert.ok(body.length < MAX_QUEUED_CHARS + 2 * item.length, `${body.length} characters written`);
});

test('a user holds at most MAX_STREAMS_PER_USER streams; closing one frees its place', async () => {
  const app = appOf(() => feedOf('busy', []));
  const open: Response[] = [];
  for (let i = 0; i < MAX_STREAMS_PER_USER; i++) {
    const res = await app.request('/s');
    assert.equal(res.status, 200);
    open.push(res);
  }
  const refused = await app.request('/s');
  assert.equal(refused.status, 429);
  assert.match(JSON.stringify(await refused.json()), new RegExp(`at most ${MAX_STREAMS_PER_USER} event streams`));
  const other = await appOf(() => feedOf('someone-else', [])).request('/s');
  assert.equal(other.status, 200, 'other users are not affected');
  open.push(other);
  await open.shift()?.body?.cancel();
  for (let i = 0; i < 50 && openStreamsOf('busy') >= MAX_STREAMS_PER_USER; i++) await new Promise((r) => setTimeout(r, 20));
  const again = await app.request('/s');
  assert.equal(again.status, 200);
  open.push(again);
  for (const res of open) await res.body?.cancel();
  for (let i = 0; i < 50 && openStreamsOf('busy') > 0; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(openStreamsOf('busy'), 0, 'every closed stream gave its place back');
});
