/**
 * postgres-server.test.ts: the harness runs a real PostgreSQL from initdb,
 * keeps committed rows across a crash on the same port, cleans up after
 * itself, and says why a start failed. One server serves the file; the
 * last test disposes it.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { startPostgresServer, type PostgresServerHandle } from './postgres-server.ts';

let server: PostgresServerHandle | undefined;

before(async () => {
  server = await startPostgresServer();
});

after(async () => {
  await server?.dispose();
});

function postgres(): PostgresServerHandle {
  assert.ok(server, 'postgres did not start');
  return server;
}

/** Runs `fn` with a connected client and always closes it. */
async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000, query_timeout: 10_000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

test('accepts a connection to a database created for the test', async () => {
  const url = await postgres().createDatabase();

  const rows = await withClient(url, async (c) => (await c.query<{ db: string }>('SELECT current_database() AS db')).rows);

  assert.match(url, /^postgres:\/\/postgres@127\.0\.0\.1:\d+\/test_[0-9a-f]+$/);
  assert.equal(url.endsWith(`/${rows[0]?.db}`), true);
});

test('keeps a committed row across SIGKILL and start on the same url', async () => {
  const url = await postgres().createDatabase();
  await withClient(url, async (c) => {
    await c.query('CREATE TABLE notes (id int PRIMARY KEY, body text NOT NULL)');
    await c.query("INSERT INTO notes VALUES (1, 'before the crash')");
  });
  const { url: serverUrl, pid } = postgres();

  await postgres().kill();
  assert.equal(postgres().pid, undefined);
  await postgres().start();

  assert.equal(postgres().url, serverUrl);
  assert.notEqual(postgres().pid, pid);
  const rows = await withClient(url, async (c) => (await c.query<{ body: string }>('SELECT body FROM notes WHERE id = 1')).rows);
  assert.deepEqual(rows, [{ body: 'before the crash' }]);
});

test('restart keeps the port, and dispose stops the server and removes its temp dir', async () => {
  const { url, dataDir } = postgres();

  await postgres().restart();
  assert.equal(postgres().url, url);
  const answer = await withClient(url, async (c) => (await c.query<{ one: number }>('SELECT 1 AS one')).rows[0]?.one);
  assert.equal(answer, 1);

  await postgres().dispose();
  assert.equal(postgres().pid, undefined);
  assert.equal(existsSync(dirname(dataDir)), false);
});

test('rejects with the reason when the binaries are not there', async () => {
  await assert.rejects(startPostgresServer({ binDir: '/nonexistent/bin' }), (err: unknown) => {
    assert.ok(err instanceof Error);
    assert.match(err.message, /initdb failed/);
    assert.match(err.message, /\/nonexistent\/bin\/initdb/);
    assert.match(err.message, /No such file|ENOENT/);
    return true;
  });
});
