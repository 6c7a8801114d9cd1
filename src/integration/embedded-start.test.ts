/**
 * `npm start` with no environment: one process runs every role on embedded
 * defaults (a child nats-server under the data dir, PGlite), from the bundle
 * `npm start` builds (dist/main.js), so the files it finds beside the code
 * (migrations/, web/) are checked as they resolve there. A kill -9 of it
 * takes its nats-server down too and leaves nothing that blocks or corrupts
 * the next start on the same data dir; SIGTERM drains and exits cleanly.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CLOSE_CODES } from '../../protocol/errors.ts';
import { connectCollabClient, startLoomProcess, waitFor, type CollabClient } from '../testing/index.ts';

const dirs: string[] = [];
const clients: CollabClient[] = [];
after(async () => {
  for (const c of clients) c.destroy();
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false; // ESRCH: no such process
  }
  return true;
}

async function natsPid(dataDir: string): Promise<number> {
  return Number.parseInt(await readFile(path.join(dataDir, 'nats', 'nats-server.pid'), 'utf8'), 10);
}

async function isZombieOrGone(pid: number): Promise<boolean> {
  if (!alive(pid)) return true;
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return stat.split(' ')[2] === 'Z';
  } catch {
    return true; // /proc entry vanished: gone
  }
}

test('kill -9 of the all-in-one process leaves nothing that blocks the next start, and SIGTERM drains', async () => {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'loom-embedded-'));
  dirs.push(dataDir);
  const loom = await startLoomProcess({ name: 'embedded', roles: ['gateway', 'actors'], dataDir, entry: 'bundle' });
  // The web app builds from web/ and the migrations applied from migrations/, both found from dist/.
  const app = await fetch(`${loom.httpUrl}/app.js`);
  assert.equal(app.status, 200);
  assert.ok((await app.text()).length > 10_000, 'the web app script was built');
  assert.ok(loom.grep(/"msg":"migrations applied"/).length >= 1, 'migrations ran at start');
  const room = 'embedded/notes.md';
  const writer = connectCollabClient(loom.wsUrl, room);
  clients.push(writer);
  await writer.synced();
  writer.doc.getText('t').insert(0, 'survives kill -9');
  await waitFor(async () => (await fetch(`${loom.httpUrl}/v1/docs/${encodeURIComponent(room)}?format=text`).then((r) => r.text())) === 'survives kill -9', {
    what: 'edit durable',
  });
  writer.destroy();
  const firstNats = await natsPid(dataDir);

  await loom.kill();
  await waitFor(() => isZombieOrGone(firstNats), { what: 'child nats-server died with its parent' });

  await loom.start();
  const text = await fetch(`${loom.httpUrl}/v1/docs/${encodeURIComponent(room)}?format=text`).then((r) => r.text());
  assert.equal(text, 'survives kill -9');
  assert.notEqual(await natsPid(dataDir), firstNats);

  // Graceful stop: connected clients get "going away", the process exits 0-ish and drains.
  const watcher = connectCollabClient(loom.wsUrl, room);
  clients.push(watcher);
  await watcher.synced();
  const secondNats = await natsPid(dataDir);
  await loom.stop();
  await waitFor(() => watcher.closes.some((c) => c.code === CLOSE_CODES.goingAway), { what: 'client told going away' });
  assert.ok(loom.grep(/"msg":"bye"/).length >= 1, 'process logged a clean shutdown');
  // Draining passivated the live document: snapshot flushed, lease released.
  assert.ok(loom.grep(/"reason":"shutdown".*"msg":"actor passivated"/).length >= 1, 'the open document was passivated on SIGTERM');
  await waitFor(() => isZombieOrGone(secondNats), { what: 'nats-server stopped with it' });
});
