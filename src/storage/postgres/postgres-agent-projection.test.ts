/**
 * PostgresAgentProjection on a real PostgreSQL 15 and on PGlite: saves of
 * many sessions made at once are written together, a session's row only
 * moves forward (an older save never replaces a newer row, in one batch or
 * across batches), and the supervisor's query finds sessions mid-turn.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { eq, inArray } from 'drizzle-orm';
import type { AgentProjectionRecord } from '../../../actors/agent/index.ts';
import { agentSessions } from './agent-sessions-schema.ts';
import type { Database } from './database.ts';
import { testDatabases } from '../../testing/test-databases.ts';
import { PostgresAgentProjection } from './postgres-agent-projection.ts';

const drivers = testDatabases();

function record(id: string, lastSeq: number, status: AgentProjectionRecord['status'], turns: number): AgentProjectionRecord {
  return {
    id,
    ownerId: 'owner-1',
    status,
    needsHost: status === 'running',
    model: 'm',
    docId: null,
    title: 'hello',
    turns,
    usage: { calls: turns * 2, promptTokens: 10 * turns, completionTokens: turns, costUsd: 0 },
    lastSeq,
    createdAt: new Date(1_700_000_000_000),
    updatedAt: new Date(1_700_000_000_000 + lastSeq),
  };
}

for (const [driver, open] of Object.entries(drivers)) {
  describe(`PostgresAgentProjection on ${driver}`, () => {
    let db: Database;
    let projection: PostgresAgentProjection;

    it('migrates from empty', async () => {
      db = await open();
      await db.migrate();
      projection = new PostgresAgentProjection(db.db);
    });

    it('writes the saves of many sessions made at once, the newest row of each, never moving a row back', async () => {
      const ids = Array.from({ length: 20 }, () => `agent-${randomUUID()}`);
      // One tick: each session's turn starts (seq 64) and, for half of them, ends (128) with the older save arriving last.
      await Promise.all(
        ids.flatMap((id, i) => (i % 2 === 0 ? [projection.save(record(id, 128, 'idle', 1)), projection.save(record(id, 64, 'running', 1))] : [projection.save(record(id, 64, 'running', 1))])),
      );
      const rows = await db.db.select({ id: agentSessions.id, status: agentSessions.status, lastSeq: agentSessions.lastSeq, calls: agentSessions.calls }).from(agentSessions).where(inArray(agentSessions.id, ids));
      const byId = new Map(rows.map((r) => [r.id, r]));
      assert.equal(byId.size, ids.length);
      ids.forEach((id, i) => assert.deepEqual(byId.get(id), { id, status: i % 2 === 0 ? 'idle' : 'running', lastSeq: i % 2 === 0 ? 128 : 64, calls: 2 }));
      // A late save from an older activation changes nothing; a newer one replaces the row.
      const [first, second] = ids;
      assert.ok(first !== undefined && second !== undefined);
      await projection.save(record(first, 64, 'running', 1));
      await projection.save(record(second, 192, 'idle', 2));
      const after = await db.db.select({ id: agentSessions.id, status: agentSessions.status, turns: agentSessions.turns }).from(agentSessions).where(inArray(agentSessions.id, [first, second]));
      assert.deepEqual(new Map(after.map((r) => [r.id, [r.status, r.turns]])), new Map([[first, ['idle', 1]], [second, ['idle', 2]]]));
      // The supervisor's query sees the sessions still mid-turn.
      const needing = new Set((await projection.needingHost(100)).map((s) => s.id));
      assert.deepEqual(ids.filter((id) => needing.has(id)).length, ids.length / 2 - 1);
    });

    it('writes every field of a record and replaces all but the id, owner and creation time', async () => {
      const id = `agent-${randomUUID()}`;
      const first: AgentProjectionRecord = { ...record(id, 10, 'running', 1), docId: 'doc-1', title: 'plan the trip \u{1F30D}', usage: { calls: 3, promptTokens: 2 ** 40, completionTokens: 7, costUsd: 0.125 } };
      await projection.save(first);
      const read = async () => (await db.db.select().from(agentSessions).where(eq(agentSessions.id, id)))[0];
      const expected = (r: AgentProjectionRecord) => ({
        id: r.id,
        ownerId: r.ownerId,
        status: r.status,
        needsHost: r.needsHost,
        model: r.model,
        docId: r.docId,
        title: r.title,
        turns: r.turns,
        calls: r.usage.calls,
        promptTokens: r.usage.promptTokens,
        completionTokens: r.usage.completionTokens,
        costUsd: r.usage.costUsd,
        lastSeq: r.lastSeq,
        createdAt: r.createdAt,
        updatedAt: r.updatedAt,
      });
      assert.deepEqual(await read(), expected(first));
      const next: AgentProjectionRecord = { ...first, ownerId: 'someone-else', status: 'failed', needsHost: false, model: 'm2', docId: null, title: null, turns: 2, lastSeq: 20, createdAt: new Date(1), updatedAt: new Date(1_700_000_000_999) };
      await projection.save(next);
      assert.deepEqual(await read(), { ...expected(next), ownerId: first.ownerId, createdAt: first.createdAt });
      // A title cut inside a surrogate pair is stored with U+FFFD, as the driver wrote it before, not refused.
      await projection.save({ ...next, title: 'cut \uD83C', lastSeq: 30 });
      assert.equal((await read())?.title, 'cut \uFFFD');
    });
  });
}
