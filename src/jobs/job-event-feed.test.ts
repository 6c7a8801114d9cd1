/**
 * The follower SSE and /ws use, against a real nats-server: history from the
 * log, then live events, each once and in order, across the switch-over; an
 * event whose live publication was lost is recovered from the log; the feed
 * ends at the job's terminal event, also for a client resuming after it.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, headers, type NatsConnection } from '@nats-io/transport-node';
import pino from 'pino';
import { parseActorId } from '../../protocol/ids.ts';
import { encodeJobEvent, type JobEvent } from '../../protocol/job-events.ts';
import { eventSubject } from '../../protocol/subjects.ts';
import { JetStreamJobLog } from '../nats/jetstream-job-log.ts';
import { ensureJobLogStream } from '../nats/provision-job-log.ts';
import { startNatsServer, waitFor, type NatsServerHandle } from '../testing/index.ts';
import { followJobEvents, type JobFeedEnd, type JobFeedItem } from './job-event-feed.ts';

const logger = pino({ level: 'silent' });
let nats: NatsServerHandle;
let nc: NatsConnection;
let log: JetStreamJobLog;

before(async () => {
  nats = await startNatsServer();
  nc = await connect({ servers: nats.url });
  const jsm = await jetstreamManager(nc);
  await ensureJobLogStream(jsm, logger);
  log = new JetStreamJobLog(nc, jsm, { timeoutMs: 5_000, logger });
});
after(async () => {
  await nc.close();
  await nats.dispose();
});

const policy = { maxAttempts: 1, stepTimeoutMs: 1_000, maxParallelSteps: 1, retryBaseMs: 0, retryMaxMs: 0 };
const created = (at: number): JobEvent => ({
  type: 'job-created', v: 1, at, kind: 'k.x', input: {}, owner: 'o', idempotencyKey: null, targetDocId: null, inputHash: 'h', priority: 'batch', model: 'm', policy,
});
const started = (at: number, step: string): JobEvent => ({ type: 'step-started', v: 1, at, step, activity: 'tool', attempt: 1, requestId: null, deadlineAt: null });
const succeeded = (at: number): JobEvent => ({ type: 'job-succeeded', v: 1, at, output: null });

/** What the job actor does: append, then (unless `lose`) publish live with the sequence. */
async function append(id: string, event: JobEvent, lastSeq: number, lose = false): Promise<number> {
  const body = encodeJobEvent(event);
  const seq = await log.append(id, body, lastSeq);
  if (!lose) {
    const h = headers();
    h.set('Loom-Seq', String(seq));
    nc.publish(eventSubject('job', parseActorId(id), event.type), body, { headers: h });
  }
  return seq;
}

function follow(id: string, afterSeq: number) {
  const items: JobFeedItem[] = [];
  let end: JobFeedEnd | undefined;
  const abort = new AbortController();
  const started = followJobEvents({ nc, log, logger, flushTimeoutMs: 5_000, repairIntervalMs: 100 }, id, {
    afterSeq,
    signal: abort.signal,
    onItem: (item) => items.push(item),
    onEnd: (why) => {
      end = why;
    },
  });
  return { items, ended: () => end, abort, started, seqs: () => items.flatMap((i) => (i.kind === 'event' ? [i.seq] : [])) };
}

test('history, then live: every event once and in order, ending at the terminal event', async () => {
  const id = `feed-${randomBytes(4).toString('hex')}`;
  let seq = await append(id, created(1), 0);
  const all = [seq];
  for (let i = 0; i < 5; i++) all.push((seq = await append(id, started(2 + i, `s${i}`), seq)));
  const f = follow(id, 0);
  await f.started;
  // Appended while the follower may still be replaying: live and log overlap, nothing doubles.
  for (let i = 5; i < 10; i++) all.push((seq = await append(id, started(2 + i, `s${i}`), seq)));
  all.push(await append(id, succeeded(20), seq));
  await waitFor(() => f.ended() === 'job-ended', { what: 'the feed to end' });
  assert.deepEqual(f.seqs(), all);
});

test('an event whose live publication was lost is read from the log', async () => {
  const id = `feed-${randomBytes(4).toString('hex')}`;
  let seq = await append(id, created(1), 0);
  const f = follow(id, 0);
  await f.started;
  await waitFor(() => f.seqs().length === 1, { what: 'the history' });
  const lost = (seq = await append(id, started(2, 'lost'), seq, true));
  await waitFor(() => f.seqs().includes(lost), { what: 'the lost event to be repaired', timeoutMs: 5_000 });
  const last = await append(id, succeeded(3), seq);
  await waitFor(() => f.ended() === 'job-ended', { what: 'the feed to end' });
  assert.equal(f.seqs().at(-1), last);
  assert.equal(new Set(f.seqs()).size, 3);
});

test('a client resuming after the last event of an ended job gets the end at once', async () => {
  const id = `feed-${randomBytes(4).toString('hex')}`;
  const first = await append(id, created(1), 0);
  const last = await append(id, succeeded(2), first);
  const f = follow(id, last);
  await f.started;
  await waitFor(() => f.ended() === 'job-ended', { what: 'the feed to end' });
  assert.deepEqual(f.seqs(), []);
  const g = follow(id, first);
  await g.started;
  await waitFor(() => g.ended() === 'job-ended', { what: 'the resumed feed to end' });
  assert.deepEqual(g.seqs(), [last]);
});
