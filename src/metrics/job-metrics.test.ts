/**
 * The metered job log against a real nats-server: it counts jobs and steps
 * from the event the job actor hands over with each append (without
 * decoding the body again), and from the body when no event is given.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import pino from 'pino';
import { encodeJobEvent, type JobEvent } from '../../protocol/job-events.ts';
import { JetStreamJobLog } from '../nats/jetstream-job-log.ts';
import { ensureJobLogStream } from '../nats/provision-job-log.ts';
import { startNatsServer, type NatsServerHandle } from '../testing/index.ts';
import { MeteredJobLog } from './job-metrics.ts';
import { registry } from './registry.ts';

const logger = pino({ level: 'silent' });
let nats: NatsServerHandle;
let nc: NatsConnection;
let inner: JetStreamJobLog;

before(async () => {
  nats = await startNatsServer();
  nc = await connect({ servers: nats.url });
  const jsm = await jetstreamManager(nc);
  await ensureJobLogStream(jsm, logger);
  inner = new JetStreamJobLog(nc, jsm, { timeoutMs: 5_000, logger });
});
after(async () => {
  await nc.close();
  await nats.dispose();
});

const policy = { maxAttempts: 1, stepTimeoutMs: 1_000, maxParallelSteps: 1, retryBaseMs: 0, retryMaxMs: 0 };

async function counted(name: string, labels: Record<string, string>): Promise<number> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  const values = (metric?.values ?? []) as Array<{ value: number; labels: Record<string, string | number> }>;
  return values.find((v) => Object.entries(labels).every(([k, want]) => v.labels[k] === want))?.value ?? 0;
}

test('counts the event handed over with an append, not a decode of the body', async () => {
  const kind = `k.${randomBytes(4).toString('hex')}`;
  const id = `metered-${randomBytes(6).toString('hex')}`;
  const log = new MeteredJobLog(inner, logger);
  const created: JobEvent = { type: 'job-created', v: 1, at: 1_000, kind, input: {}, owner: 'o', idempotencyKey: null, targetDocId: null, inputHash: 'h', priority: 'batch', model: 'm', policy };
  const started: JobEvent = { type: 'step-started', v: 1, at: 1_000, step: 's', activity: 'emit', attempt: 1, requestId: null, deadlineAt: null };
  const emitsBefore = await counted('loom_job_steps_total', { activity: 'emit', status: 'started' });
  let seq = await log.append(id, encodeJobEvent(created), 0, created);
  // A body that is not an event at all: only the handed-over event can be what is counted.
  seq = await log.append(id, new TextEncoder().encode('not a job event'), seq, started);
  assert.equal(await counted('loom_jobs_total', { kind, status: 'created' }), 1);
  assert.equal(await counted('loom_job_steps_total', { activity: 'emit', status: 'started' }), emitsBefore + 1);

  // Without an event (older callers), the body is decoded as before.
  const done: JobEvent = { type: 'job-succeeded', v: 1, at: 2_000, output: null };
  await log.append(id, encodeJobEvent(done), seq);
  assert.equal(await counted('loom_jobs_total', { kind, status: 'succeeded' }), 1);
});
