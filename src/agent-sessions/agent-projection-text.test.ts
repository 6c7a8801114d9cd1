/**
 * A session whose log holds text PostgreSQL cannot store (NUL, written
 * before the edges refused it) still gets its projection row updated, on a
 * real PostgreSQL 15: the entry is appended straight to the log, as an older
 * Loom wrote it, and the next activation projects it with U+FFFD in place.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { sql } from 'drizzle-orm';
import { encodeAgentEvent } from '../../protocol/agent-events.ts';
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
  const r = await f.database.db.execute(sql`select title, turns, needs_host from agent_sessions where id = ${id}`);
  return (r as unknown as { rows: Array<Record<string, unknown>> }).rows[0];
}

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
