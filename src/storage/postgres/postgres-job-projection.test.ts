/**
 * PostgresJobProjection on a real PostgreSQL 15 and on PGlite: the saves of
 * many jobs made at once go out as one statement, each job's row and step
 * rows only move forward (an older save never replaces a newer row, in one
 * batch or across batches), a failed job's dead letter is kept, a record
 * PostgreSQL refuses fails alone while the rest of its batch is written, text
 * jsonb refuses (NUL, a lone surrogate) is stored with U+FFFD, and
 * the supervisor's query finds jobs that need a host.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { inArray } from 'drizzle-orm';
import type { JobProjectionRecord } from '../../../actors/job/index.ts';
import type { JobStatus, StepStatus } from '../../../protocol/job.ts';
import type { Database, LoomDatabase } from './database.ts';
import { testDatabases } from '../../testing/test-databases.ts';
import { jobDeadLetters, jobs, jobSteps } from './jobs-schema.ts';
import { PostgresJobProjection } from './postgres-job-projection.ts';
import { StorageError } from './storage-error.ts';

const drivers = testDatabases();

const USAGE = { calls: 0, promptTokens: 0, completionTokens: 0, costUsd: 0, modelMs: 0 };
const T0 = 1_700_000_000_000;

/** A job at `lastSeq` whose steps `steps` (id → [status, seq]) changed. */
function record(id: string, lastSeq: number, status: JobStatus, steps: Record<string, [StepStatus, number]>, input: unknown = { topic: 't' }): JobProjectionRecord {
  return {
    job: {
      id,
      kind: 'bench.mixed',
      owner: 'owner-1',
      idempotencyKey: null,
      targetDocId: null,
      status,
      needsHost: status === 'running',
      lastSeq,
      input,
      output: status === 'succeeded' ? { done: true } : null,
      error: status === 'failed' ? { code: 'boom', message: 'it broke' } : null,
      usage: { ...USAGE, durationMs: lastSeq },
      createdAt: new Date(T0),
      updatedAt: new Date(T0 + lastSeq),
      finishedAt: status === 'running' ? null : new Date(T0 + lastSeq),
    },
    steps: Object.entries(steps).map(([step, [s, seq]]) => ({
      jobId: id,
      step,
      activity: 'service',
      status: s,
      attempt: 1,
      error: null,
      usage: USAGE,
      startedAt: new Date(T0),
      finishedAt: s === 'running' ? null : new Date(T0 + seq),
      lastSeq: seq,
    })),
    deadLetter:
      status === 'failed'
        ? { jobId: id, kind: 'bench.mixed', owner: 'owner-1', step: 'fetch', attempts: 3, error: { code: 'boom', message: 'it broke' }, lastAttemptError: null, failedAt: new Date(T0 + lastSeq) }
        : null,
  };
}

/** The database with its statements counted. */
function counting(db: LoomDatabase): { db: LoomDatabase; statements: () => number } {
  let n = 0;
  const proxy = new Proxy(db, {
    get(target, key, receiver) {
      if (key === 'execute') {
        return (...args: Parameters<LoomDatabase['execute']>) => {
          n++;
          return target.execute(...args);
        };
      }
      return Reflect.get(target, key, receiver) as unknown;
    },
  });
  return { db: proxy, statements: () => n };
}

for (const [driver, open] of Object.entries(drivers)) {
  describe(`PostgresJobProjection on ${driver}`, () => {
    let db: Database;

    it('migrates from empty', async () => {
      db = await open();
      await db.migrate();
    });

    it('writes the saves of many jobs made at once in one statement, the newest rows of each', async () => {
      const counted = counting(db.db);
      const projection = new PostgresJobProjection(counted.db);
      const ids = Array.from({ length: 20 }, () => `job-${randomUUID()}`);
      // One tick: each job starts `fetch`; half of them then finish it and start `enrich`, with the older save arriving last.
      await Promise.all(
        ids.flatMap((id, i) =>
          i % 2 === 0
            ? [projection.save(record(id, 3, 'running', { fetch: ['succeeded', 3], enrich: ['running', 3] })), projection.save(record(id, 2, 'running', { fetch: ['running', 2] }))]
            : [projection.save(record(id, 2, 'running', { fetch: ['running', 2] }))],
        ),
      );
      assert.equal(counted.statements(), 1);
      const rows = await db.db.select({ id: jobs.id, lastSeq: jobs.lastSeq }).from(jobs).where(inArray(jobs.id, ids));
      assert.deepEqual(new Map(rows.map((r) => [r.id, r.lastSeq])), new Map(ids.map((id, i) => [id, i % 2 === 0 ? 3 : 2])));
      const steps = await db.db.select({ jobId: jobSteps.jobId, step: jobSteps.step, status: jobSteps.status }).from(jobSteps).where(inArray(jobSteps.jobId, ids));
      const got = new Map(steps.map((s) => [`${s.jobId}/${s.step}`, s.status]));
      ids.forEach((id, i) => {
        assert.equal(got.get(`${id}/fetch`), i % 2 === 0 ? 'succeeded' : 'running');
        assert.equal(got.get(`${id}/enrich`), i % 2 === 0 ? 'running' : undefined);
      });
    });

    it('never moves rows back across batches, keeps dead letters, and the supervisor finds jobs needing a host', async () => {
      const projection = new PostgresJobProjection(db.db);
      const [done, failed] = [`job-${randomUUID()}`, `job-${randomUUID()}`];
      await Promise.all([projection.save(record(done, 5, 'succeeded', { fetch: ['succeeded', 5] })), projection.save(record(failed, 4, 'failed', { fetch: ['failed', 4] }))]);
      await projection.save(record(done, 2, 'running', { fetch: ['running', 2] }));
      const rows = await db.db.select({ id: jobs.id, status: jobs.status, needsHost: jobs.needsHost }).from(jobs).where(inArray(jobs.id, [done, failed]));
      assert.deepEqual(new Map(rows.map((r) => [r.id, [r.status, r.needsHost]])), new Map([[done, ['succeeded', false]], [failed, ['failed', false]]]));
      const [step] = await db.db.select({ status: jobSteps.status }).from(jobSteps).where(inArray(jobSteps.jobId, [done]));
      assert.equal(step?.status, 'succeeded');
      const dead = await db.db.select({ jobId: jobDeadLetters.jobId, step: jobDeadLetters.step, error: jobDeadLetters.error }).from(jobDeadLetters).where(inArray(jobDeadLetters.jobId, [done, failed]));
      assert.deepEqual(dead, [{ jobId: failed, step: 'fetch', error: { code: 'boom', message: 'it broke' } }]);
      const running = `job-${randomUUID()}`;
      await projection.save(record(running, 1, 'running', { fetch: ['running', 1] }));
      const needing = new Set((await projection.needingHost(10_000)).map((j) => j.id));
      assert.ok(needing.has(running) && !needing.has(done) && !needing.has(failed));
    });

    it('fails a record PostgreSQL refuses alone; the rest of its batch is written', async () => {
      const projection = new PostgresJobProjection(db.db);
      const good = Array.from({ length: 3 }, () => `job-${randomUUID()}`);
      const bad = `job-${randomUUID()}`;
      // `calls` is an integer column: 2^40 calls is out of its range, so the statement carrying this record fails.
      const refused = record(bad, 1, 'running', {});
      const saves = [
        ...good.map((id) => projection.save(record(id, 1, 'running', { fetch: ['running', 1] }))),
        projection.save({ ...refused, job: { ...refused.job, usage: { ...refused.job.usage, calls: 2 ** 40 } } }),
      ];
      const outcomes = await Promise.allSettled(saves);
      assert.deepEqual(outcomes.slice(0, 3).map((o) => o.status), ['fulfilled', 'fulfilled', 'fulfilled']);
      const last = outcomes[3];
      assert.ok(last?.status === 'rejected' && last.reason instanceof StorageError, 'the bad record is refused with a StorageError');
      const rows = await db.db.select({ id: jobs.id }).from(jobs).where(inArray(jobs.id, [...good, bad]));
      assert.deepEqual(new Set(rows.map((r) => r.id)), new Set(good));
    });

    it('stores outputs, errors and inputs holding NUL or a lone surrogate with U+FFFD in their place, and the row keeps moving', async () => {
      const projection = new PostgresJobProjection(db.db);
      const id = `job-${randomUUID()}`;
      // What a model or a worker may answer: jsonb refuses U+0000 and a lone surrogate, in values and keys alike.
      const error = { code: 'model-error', message: 'bad \u0000 byte' };
      const base = record(id, 1, 'running', { fetch: ['running', 1] }, { topic: 'in\u0000put' });
      await projection.save({ ...base, steps: base.steps.map((s) => ({ ...s, status: 'retry-wait', error })) });
      const failed = record(id, 2, 'failed', { fetch: ['failed', 2] }, { topic: 'in\u0000put' });
      await projection.save({
        ...failed,
        job: { ...failed.job, output: { text: 'half \uD800 pair', ['k\u0000ey']: ['x\u0000'] }, error },
        steps: failed.steps.map((s) => ({ ...s, error })),
        deadLetter: failed.deadLetter === null ? null : { ...failed.deadLetter, error, lastAttemptError: error },
      });
      const [row] = await db.db.select({ lastSeq: jobs.lastSeq, status: jobs.status, input: jobs.input, output: jobs.output, error: jobs.error }).from(jobs).where(inArray(jobs.id, [id]));
      const stored = { code: 'model-error', message: 'bad \uFFFD byte' };
      assert.deepEqual(row, { lastSeq: 2, status: 'failed', input: { topic: 'in\uFFFDput' }, output: { text: 'half \uFFFD pair', ['k\uFFFDey']: ['x\uFFFD'] }, error: stored });
      const [step] = await db.db.select({ status: jobSteps.status, error: jobSteps.error }).from(jobSteps).where(inArray(jobSteps.jobId, [id]));
      assert.deepEqual(step, { status: 'failed', error: stored });
      const [dead] = await db.db.select({ error: jobDeadLetters.error, last: jobDeadLetters.lastAttemptError }).from(jobDeadLetters).where(inArray(jobDeadLetters.jobId, [id]));
      assert.deepEqual(dead, { error: stored, last: stored });
    });
  });
}
