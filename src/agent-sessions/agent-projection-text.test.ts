/**
 * Text PostgreSQL cannot store, on a real nats-server and PostgreSQL 15.
 * The NATS edge refuses an ownerId with NUL or another control character
 * (the projection would store U+FFFD in its place, and "my sessions" by the
 * original id would miss the session). A session whose log holds such text
 * (written before the edges refused it) still gets its projection row
 * updated: the entry is appended straight to the log, as an older Loom
 * wrote it, and the next activation projects it with U+FFFD in place.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { sql } from 'drizzle-orm';
import { encodeAgentEvent } from '../../protocol/agent-events.ts';
import { ProtocolError } from '../../protocol/errors.ts';
import { JetStreamAgentLog } from '../nats/jetstream-agent-log.ts';
import { startAgentHostFixture, type AgentHostFixture } from '../testing/agent-host-fixture.ts';
import { startPostgresServer, waitFor, type PostgresServerHandle } from '../testing/index.ts';

let pg: PostgresServerHandle;
let f: AgentHostFixture;

before(async () => {
  pg = await startPostgresServer();
  f = await startAgentHostFixture({ tools: {}, databaseUrl: await pg.createDatabase() });
});
after(async () => {
  await f?.stop();
  await pg?.dispose();
});

async function row(id: string): Promise<Record<string, unknown> | undefined> {
  const r = await f.database.db.execute(sql`select owner_id, title, turns, needs_host from agent_sessions where id = ${id}`);
  return (r as unknown as { rows: Array<Record<string, unknown>> }).rows[0];
}

test('a start over NATS whose ownerId holds NUL or another control character is refused naming ownerId; nothing is recorded and nothing already there changes', async () => {
  const log = new JetStreamAgentLog(f.nc, f.provisioned.jsm, { timeoutMs: 5_000, logger: f.log });
  const namesOwnerId = (err: unknown) => err instanceof ProtocolError && err.code === 'malformed-message' && /^start request: ownerId must not contain control characters/.test(err.message);
  const fresh = f.newId();
  const existing = f.newId();
  await f.command(existing, 'start', { ownerId: 'u1', tools: [] });
  await waitFor(async () => (await row(existing)) !== undefined, { what: 'the row of the good session' });
  const before = await f.view(existing);
  for (const ownerId of ['u1\u0000', 'u\u0000x', 'u\u0007x', 'u\r\nx']) {
    await assert.rejects(f.command(fresh, 'start', { ownerId, tools: [] }), namesOwnerId, JSON.stringify(ownerId));
    await assert.rejects(f.command(existing, 'start', { ownerId, tools: [] }), namesOwnerId, JSON.stringify(ownerId));
  }
  assert.equal(await log.last(fresh), null, 'no log entry for the refused session');
  assert.equal(await row(fresh), undefined, 'no projection row for it');
  assert.deepEqual(await f.view(existing), before, 'the session already there is as it was');
  // The refused id is not spoilt: the same id starts with a good owner, found under that owner.
  await f.command(fresh, 'start', { ownerId: 'u2', tools: [] });
  const r = await waitFor(async () => row(fresh), { what: 'the row of the session started after the refusals' });
  assert.equal(r['owner_id'], 'u2');
});

test('a NUL in an old log entry is projected with U+FFFD instead of freezing the row', async () => {
  const id = f.newId();
  await f.command(id, 'start', { ownerId: 'u1', tools: [] });
  await waitFor(async () => (await row(id)) !== undefined, { what: 'the first projection row' });
  await f.stopProcesses();
  // As a Loom before the NUL refusal recorded a message from an internal service.
  const log = new JetStreamAgentLog(f.nc, f.provisioned.jsm, { timeoutMs: 5_000, logger: f.log });
  const last = await log.last(id);
  assert.ok(last !== null);
  await log.append(id, encodeAgentEvent({ type: 'turn-started', v: 1, at: Date.now(), turnId: 't1', content: 'bad\u0000title' }), last.seq);
  await f.startProcesses();
  // Activation replays the entry, runs the turn to its end and projects each change.
  await f.view(id);
  const projected = await waitFor(
    async () => {
      const r = await row(id);
      return r !== undefined && Number(r['turns']) === 1 && r['needs_host'] === false ? r : undefined;
    },
    { what: 'the row of turn 1, ended', timeoutMs: 20_000 },
  );
  assert.equal(projected['title'], 'bad\uFFFDtitle');
});
