/**
 * The mixed pipeline benchmark's service worker, a process of its own (what
 * a platform's worker is to Loom): serves the queues named in QUEUES with
 * the ActivityWorker helper, CONCURRENCY tasks at once per queue, answering
 * each after WORK_MS with `{ workMs }`, the time the task spent in the
 * handler as this process measured it (so a late timer on the busy machine
 * counts as worker time, not as the engine's). Prints `{"worker":"ready"}`
 * once it pulls. Settings: NATS_URL, QUEUES (comma separated), CONCURRENCY,
 * WORK_MS, WORKER_ID.
 *
 *   node --import tsx load-tests/jobs/service-worker.ts
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { connectWorkerProcess } from '../../src/testing/activity-worker-process.ts';
import { ActivityWorker } from '../../src/activities/worker.ts';

const workerId = process.env.WORKER_ID ?? `bench-${process.pid}`;
const queues = (process.env.QUEUES ?? '').split(',').filter((q) => q !== '');
const concurrency = Number(process.env.CONCURRENCY ?? '64');
const workMs = Number(process.env.WORK_MS ?? '20');
if (queues.length === 0) throw new Error('QUEUES: name at least one queue');
if (!Number.isInteger(workMs) || workMs < 0) throw new Error('WORK_MS: a whole number of milliseconds');

const { log, nc, jsm, presence } = await connectWorkerProcess(workerId);

const workers = queues.map(
  (queue) =>
    new ActivityWorker({
      nc,
      jsm,
      presence,
      queue,
      workerId,
      log,
      concurrency,
      handler: async (_task, ctx) => {
        const t0 = performance.now();
        await sleep(workMs, undefined, { signal: ctx.signal });
        return { workMs: Math.round((performance.now() - t0) * 10) / 10 };
      },
    }),
);
await Promise.all(workers.map((w) => w.start()));
console.log(JSON.stringify({ worker: 'ready', workerId, queues, concurrency }));

process.once('SIGTERM', () => {
  void Promise.all(workers.map((w) => w.stop())).then(async () => {
    await nc.drain();
    process.exit(0);
  });
});
