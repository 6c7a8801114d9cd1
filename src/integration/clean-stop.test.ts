/**
 * `npm start` stops cleanly however it is asked to: Ctrl-C in a terminal
 * (SIGINT to the whole foreground process group: npm, Loom and, before the
 * fix, the embedded nats-server, which died before Loom could drain) and
 * `kill <pid of npm>` (SIGTERM to npm alone, which used to leave Loom
 * running with its port held). Either way the open document is passivated
 * (snapshot flushed, lease released), nothing logs an error, the embedded
 * nats-server is stopped after the drain, and no process is left.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectCollabClient, spawnChild, waitFor, type Child, type CollabClient } from '../testing/index.ts';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const dirs: string[] = [];
const clients: CollabClient[] = [];
after(async () => {
  for (const c of clients) c.destroy();
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false; // ESRCH
  }
}

/** Whether any process still belongs to process group `pgid` (read from /proc, so zombies of others do not count). */
async function groupMembers(pgid: number): Promise<number[]> {
  const { readdir } = await import('node:fs/promises');
  const members: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      // Fields after the command name (which may hold spaces): state ppid pgrp ...
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(rest[2]) === pgid && rest[0] !== 'Z') members.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return members;
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

interface StartedLoom {
  readonly npm: Child;
  readonly port: number;
  readonly dataDir: string;
  readonly natsPid: number;
}

/** `npm start` in its own process group, as a terminal would run it, with one live document. */
async function startWithNpm(): Promise<StartedLoom> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'loom-clean-stop-'));
  dirs.push(dataDir);
  const npm = spawnChild({
    name: 'npm start',
    command: 'npm',
    args: ['start'],
    cwd: REPO_ROOT,
    processGroup: true,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, TMPDIR: process.env.TMPDIR, PORT: '0', LOOM_DATA_DIR: dataDir, LOOM_DOC_ACCESS: 'open' },
  });
  const ready = await npm.waitForLine(/"msg":"loom ready"/, 120_000);
  const port = Number(/"port":(\d+)/.exec(ready.input)?.[1]);
  assert.ok(port > 0, 'the ready line names the port');
  const natsPid = Number.parseInt(await readFile(path.join(dataDir, 'nats', 'nats-server.pid'), 'utf8'), 10);

  const room = 'clean-stop/notes.md';
  const writer = connectCollabClient(`ws://127.0.0.1:${port}`, room);
  clients.push(writer);
  await writer.synced();
  writer.doc.getText('t').insert(0, 'flushed on stop');
  await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/v1/docs/${encodeURIComponent(room)}?format=text`).then((r) => r.text())) === 'flushed on stop', {
    what: 'edit durable',
  });
  return { npm, port, dataDir, natsPid };
}

async function assertDrainedStop(loom: StartedLoom): Promise<void> {
  const pgid = loom.npm.pid;
  assert.ok(pgid !== undefined);
  await loom.npm.waitForExit(60_000);
  const lines = loom.npm.output().join('\n');
  assert.match(lines, /"reason":"shutdown".*"msg":"actor passivated"/, 'the open document was passivated (snapshot flushed, lease released)');
  assert.match(lines, /"msg":"embedded nats-server stopped"/, 'the embedded nats-server was stopped by Loom');
  assert.match(lines, /"msg":"bye"/, 'Loom logged a clean shutdown');
  assert.doesNotMatch(lines, /"level":(50|60)/, 'nothing logged an error while stopping');
  assert.doesNotMatch(lines, /shutdown step failed|connection disconnected/i);
  await waitFor(() => !alive(loom.natsPid), { what: 'embedded nats-server gone' });
  await waitFor(async () => (await groupMembers(pgid)).length === 0, { what: 'no process of npm start left' });
  assert.ok(await portIsFree(loom.port), 'the HTTP port is released');
}

test('Ctrl-C (SIGINT to the whole process group of npm start) drains Loom before its nats-server stops', async () => {
  const loom = await startWithNpm();
  const pgid = loom.npm.pid;
  assert.ok(pgid !== undefined);
  process.kill(-pgid, 'SIGINT');
  await assertDrainedStop(loom);
});

test('kill <pid of npm start> (SIGTERM to npm alone) reaches Loom, which drains and frees its port', async () => {
  const loom = await startWithNpm();
  assert.ok(loom.npm.signal('SIGTERM'));
  await assertDrainedStop(loom);
});
