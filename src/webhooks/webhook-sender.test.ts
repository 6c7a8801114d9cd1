import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import { WebhookSender } from './webhook-sender.ts';

const HEADERS = { 'webhook-id': 'evt_1', 'webhook-timestamp': '1700000000', 'webhook-signature': 'v1,abc' };
const servers: Server[] = [];
const senders: WebhookSender[] = [];

after(async () => {
  for (const s of senders) await s.close();
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise((resolve) => s.close(resolve));
  }
});

/** A loopback server; returns its base URL and the paths it was asked for. */
async function serve(handle: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ base: string; paths: string[] }> {
  const paths: string[] = [];
  const server = createServer((req, res) => {
    paths.push(req.url ?? '');
    handle(req, res);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, paths };
}

function sender(opts: { timeoutMs?: number; allowPrivate?: boolean } = {}): WebhookSender {
  const s = new WebhookSender({ timeoutMs: opts.timeoutMs ?? 10_000, allowPrivate: opts.allowPrivate ?? true });
  senders.push(s);
  return s;
}

test('a 2xx is a success; the body and the signed headers arrive, over kept-alive connections', async () => {
  const seen: Array<{ body: string; id: unknown; type: unknown; port: number | undefined }> = [];
  const { base } = await serve((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({ body, id: req.headers['webhook-id'], type: req.headers['content-type'], port: req.socket.remotePort });
      res.writeHead(204).end();
    });
  });
  const s = sender();
  const outcomes = [];
  for (let i = 0; i < 6; i++) outcomes.push(await s.send(`${base}/hook?x=1`, HEADERS, `{"a":${i}}`));
  assert.deepEqual(outcomes.map((o) => [o.ok, o.status, o.error]), outcomes.map(() => [true, 204, null]));
  assert.deepEqual(seen.map((x) => [x.body, x.id, x.type]), seen.map((_, i) => [`{"a":${i}}`, 'evt_1', 'application/json']));
  // Not one connection per request (a send right after an answer may open a second while the first is being freed).
  assert.ok(new Set(seen.map((x) => x.port)).size <= 2, JSON.stringify(seen.map((x) => x.port)));
});

test('a redirect is a failure and is not followed', async () => {
  const { base, paths } = await serve((req, res) => {
    if (req.url === '/hook') res.writeHead(307, { location: '/elsewhere' }).end();
    else res.writeHead(200).end();
  });
  const outcome = await sender().send(`${base}/hook`, HEADERS, '{}');
  assert.deepEqual([outcome.ok, outcome.status, outcome.error], [false, 307, 'HTTP 307']);
  assert.deepEqual(paths, ['/hook']);
});

test('an endless answer is cut after the read limit and its status stands', async () => {
  const { base } = await serve((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/plain' });
    const chunk = Buffer.alloc(1_024, 'x');
    const pump = () => {
      while (!res.destroyed && res.write(chunk));
      if (!res.destroyed) res.once('drain', pump);
    };
    pump();
  });
  const outcome = await sender({ timeoutMs: 60_000 }).send(`${base}/hook`, HEADERS, '{}');
  assert.deepEqual([outcome.ok, outcome.status, outcome.error], [true, 200, null]);
});

test('no answer within the timeout is a failure without a status', async () => {
  const { base } = await serve((req) => req.resume());
  const outcome = await sender({ timeoutMs: 200 }).send(`${base}/hook`, HEADERS, '{}');
  assert.equal(outcome.ok, false);
  assert.equal(outcome.status, null);
  assert.equal(outcome.error, 'no answer within 200 ms');
});

test('a refused connection is a failure without a status', async () => {
  const { base } = await serve((_req, res) => res.end());
  const port = new URL(base).port;
  const closed = servers.pop();
  await new Promise((resolve) => closed?.close(resolve));
  const outcome = await sender().send(`http://127.0.0.1:${port}/hook`, HEADERS, '{}');
  assert.equal(outcome.status, null);
  assert.match(outcome.error ?? '', /ECONNREFUSED/);
});

test('without allowPrivate, a name resolving to loopback and a loopback literal are refused before anything is sent', async () => {
  const { base, paths } = await serve((_req, res) => res.writeHead(200).end());
  const port = new URL(base).port;
  const strict = sender({ allowPrivate: false });
  for (const url of [`http://localhost:${port}/hook`, `http://127.0.0.1:${port}/hook`, 'http://169.254.169.254/latest/meta-data']) {
    const outcome = await strict.send(url, HEADERS, '{}');
    assert.equal(outcome.ok, false, url);
    assert.equal(outcome.status, null, url);
    assert.match(outcome.error ?? '', /private, loopback, link-local or metadata/, url);
  }
  assert.deepEqual(paths, []);
});
