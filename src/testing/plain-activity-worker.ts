/**
 * The worker of PROTOCOL.md §17, as written there: plain nats.js, nothing
 * from Loom. The test suite runs it to prove the documented loop works.
 * It uppercases `input.value` and prints `{"plain":"completed",...}` per
 * completion (a `gated` task waits for the test first). Settings: NATS_URL, QUEUE.
 */
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, AckPolicy } from '@nats-io/jetstream';

const queue = process.env.QUEUE ?? 'plain';
const nc = await connect({ servers: process.env.NATS_URL ?? '' });
// Loom creates the consumers when it publishes a queue's first task; a worker that may start first creates them (§17).
const jsm = await jetstreamManager(nc);
for (const priority of ['interactive', 'batch']) {
  await jsm.consumers.add('LOOM_ACTIVITIES', {
    durable_name: `activity-${queue}-${priority}`,
    filter_subject: `activity.task.${queue}.${priority}`,
    ack_policy: AckPolicy.Explicit,
    ack_wait: 30_000_000_000,
  });
}
// The documented example's work function; here: uppercase the test pipeline's `value`. With `behave: 'gated'` it
// first waits for any message on test.gate.plain.<value>, so a test can finish it while no actors host runs.
const transcribe = async (input: unknown) => {
  const { behave, value } = input as { behave?: unknown; value?: unknown };
  if (behave === 'gated') {
    const gate = nc.subscribe(`test.gate.plain.${String(value)}`, { max: 1 });
    await nc.flush();
    console.log(JSON.stringify({ plain: 'working', value }));
    for await (const _opened of gate) break;
  }
  return { text: String(value ?? '').toUpperCase() };
};

// From here on, the example of PROTOCOL.md §17 (queue name from the environment).
const me = `${queue}-${process.pid}`;
const RETRYABLE = new Set(['mailbox-full', 'unavailable', 'not-owner', 'timeout']);
// An error reply (§4) carries Loom-Error; the retryable ones are worth sending again. So is no answer at all
// (no responders while Loom's hosts restart, or a timeout), unless this worker's own connection closed.
const ask = async (subject: string, body: object) => {
  const reply = await nc.request(subject, JSON.stringify(body), { timeout: 10_000 }).catch((err: unknown) => {
    throw Object.assign(new Error(`${subject}: no answer`, { cause: err }), { retryable: !nc.isClosed() });
  });
  const error = reply.headers?.get('Loom-Error');
  if (error) throw Object.assign(new Error(error), { retryable: RETRYABLE.has(error) });
  return reply.json<{ accepted: boolean }>();
};
// A finished task's result must reach Loom: the same completion again, with backoff, until Loom answers it.
const complete = async (body: object) => {
  for (let wait = 100; ; wait = Math.min(2 * wait, 2_000)) {
    try {
      return await ask('activity.complete', body);
    } catch (err) {
      if (!(err as { retryable?: boolean }).retryable) throw err;
      console.warn(JSON.stringify({ completion: 'not taken yet', error: String(err), retryInMs: wait }));
      await new Promise((r) => setTimeout(r, wait / 2 + (Math.random() * wait) / 2));
    }
  }
};
setInterval(() => nc.publish(`$KV.loom_workers.service.${queue}.${me}`, ''), 5_000);
nc.publish(`$KV.loom_workers.service.${queue}.${me}`, '');
const consumer = await jetstream(nc).consumers.get('LOOM_ACTIVITIES', `activity-${queue}-batch`);
console.log(JSON.stringify({ plain: 'ready' }));
for await (const m of await consumer.consume({ max_messages: 1 })) {
  const task = m.json<{ taskId: string; jobId: string; step: string; attempt: number; input: unknown; heartbeatTimeoutMs: number | null }>();
  const ids = { v: 1, taskId: task.taskId, jobId: task.jobId, step: task.step, attempt: task.attempt, workerId: me };
  const claim = await ask('activity.claim', ids).catch(() => null);
  if (claim === null) { m.nak(1_000); continue; } // refused or lost: the task comes again
  m.ack();
  if (!claim.accepted) continue;
  // Best effort: a heartbeat Loom did not take is logged, and the next one will do.
  const lost = (err: unknown) => console.warn(JSON.stringify({ heartbeat: 'not taken', taskId: task.taskId, error: String(err) }));
  const beat = setInterval(() => void ask('activity.heartbeat', ids).catch(lost), (task.heartbeatTimeoutMs ?? 30_000) / 3);
  try {
    const output = await transcribe(task.input);
    const done = await complete({ ...ids, outcome: { ok: true, output } });
    console.log(JSON.stringify({ plain: 'completed', taskId: task.taskId, accepted: done.accepted }));
  } catch (err) {
    await complete({ ...ids, outcome: { ok: false, error: { code: 'transcribe-failed', message: String(err) }, retryable: true } });
  } finally {
    clearInterval(beat);
  }
}
