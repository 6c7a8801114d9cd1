/**
 * Whose job it is, from the job's first log entry on a real nats-server:
 * one STREAM.MSG.GET however long the log, remembered after the first
 * answer, null for a job that does not exist (and looked up again once it
 * does), an error for a log that does not start with job-created.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import { encodeJobEvent, type JobEvent } from '../../protocol/job-events.ts';
import { JetStreamJobLog } from '../nats/jetstream-job-log.ts';
import { ensureJobLogStream } from '../nats/provision-job-log.ts';
import { startNatsServer, type NatsServerHandle } from '../testing/index.ts';
import { JobOwners } from './job-owner.ts';

const log = pino({ level: 'silent' });
let server: NatsServerHandle;
let nc: NatsConnection;
let jobLog: JetStreamJobLog;

before(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
  const jsm = await jetstreamManager(nc);
  await ensureJobLogStream(jsm, log, 1);
  jobLog = new JetStreamJobLog(nc, jsm, { timeoutMs: 5_000, logger: log });
});
after(async () => {
  await nc.close();
  await server.dispose();
});

function created(owner: string): JobEvent {
  return {
    type: 'job-created',
    v: 1,
    at: 1,
    kind: 'document.generate',
    input: { topic: 'tides' },
    owner,
    idempotencyKey: null,
    targetDocId: null,
    inputHash: 'test',
    priority: 'batch',
    model: 'test-model',
    policy: { maxAttempts: 1, stepTimeoutMs: 1_000, maxParallelSteps: 1, retryBaseMs: 0, retryMaxMs: 0 },
  };
}

async function record(id: string, events: readonly JobEvent[]): Promise<void> {
  let seq = 0;
  for (const event of events) seq = await jobLog.append(id, encodeJobEvent(event), seq);
}

/** The log, counting its first-entry reads. */
function counted() {
  const reads = new Map<string, number>();
  return {
    reads,
    first: (id: string, signal?: AbortSignal) => {
      reads.set(id, (reads.get(id) ?? 0) + 1);
      return jobLog.first(id, signal);
    },
  };
}

test("a job's owner is its first entry's, read once and then remembered, however long the log", async () => {
  const events: JobEvent[] = [created('alice')];
  for (let i = 0; i < 50; i++) events.push({ type: 'job-stuck', v: 1, at: 2 + i, since: 1, stuckAfterMs: 1_000 });
  // Another job's entry first, so the job's first entry is not simply the stream's first message.
  await record('job-other', [created('bob')]);
  await record('job-long', events);
  const first = await jobLog.first('job-long');
  assert.ok(first !== null && first.seq > 1);
  assert.equal(first.seq, (await jobLog.lastSeq('job-long')) - 50);
  const log = counted();
  const owners = new JobOwners(log);
  assert.equal(await owners.of('job-long'), 'alice');
  assert.equal(await owners.of('job-long'), 'alice');
  assert.equal(await owners.of('job-other'), 'bob');
  assert.deepEqual(Object.fromEntries(log.reads), { 'job-long': 1, 'job-other': 1 });
});

test('a job that does not exist has no owner, and is looked up again until it does', async () => {
  const log = counted();
  const owners = new JobOwners(log);
  assert.equal(await jobLog.first('job-later'), null);
  assert.equal(await owners.of('job-later'), null);
  await record('job-later', [created('carol')]);
  assert.equal(await owners.of('job-later'), 'carol');
  assert.equal(log.reads.get('job-later'), 2);
});

test('a log that does not start with job-created is an error, not an owner', async () => {
  await record('job-odd', [{ type: 'job-succeeded', v: 1, at: 1, output: null }]);
  await assert.rejects(new JobOwners(jobLog).of('job-odd'), /starts with job-succeeded, not job-created/);
});
