/**
 * A platform's service worker as its own OS process (what a site builder's
 * or a video team's worker is to Loom): serves the queues named in QUEUES
 * with the ActivityWorker helper, answering each task with the deterministic
 * fake of behaviours.ts after WORK_MS (heartbeating meanwhile, so a test can
 * SIGKILL it mid-task). One JSON line per task event on stdout, which tests
 * count: `{"task":"completed","taskId":…,"accepted":true,"queue":…}`.
 * Settings: NATS_URL, QUEUES (comma separated), WORKER_ID, WORK_MS.
 *
 *   node --import tsx src/testing/platform-workers/platform-worker.ts
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { connectWorkerProcess } from '../activity-worker-process.ts';
import { ActivityFailure, ActivityWorker } from '../../activities/worker.ts';
import { PLATFORM_QUEUES, PlatformInputError, platformOutput, type PlatformQueue } from './behaviours.ts';

const workerId = process.env.WORKER_ID ?? `platform-${process.pid}`;
const workMs = Number(process.env.WORK_MS ?? '0');
const queues = (process.env.QUEUES ?? '').split(',').filter((q) => q !== '');
for (const q of queues) if (!(PLATFORM_QUEUES as readonly string[]).includes(q)) throw new Error(`QUEUES: unknown platform queue ${JSON.stringify(q)}`);
if (queues.length === 0) throw new Error('QUEUES: name at least one queue');
if (!Number.isInteger(workMs) || workMs < 0) throw new Error('WORK_MS: a whole number of milliseconds');

const { log, nc, jsm, presence } = await connectWorkerProcess(workerId);

const workers = queues.map((queue) => {
  const worker = new ActivityWorker({
    nc,
    jsm,
    presence,
    queue,
    workerId,
    log,
    handler: async (task, ctx) => {
      console.log(JSON.stringify({ task: 'working', taskId: task.taskId, attempt: task.attempt, queue, workerId }));
      if (workMs > 0) {
        await ctx.heartbeat({ stage: `${queue} started` });
        await sleep(workMs, undefined, { signal: ctx.signal });
      }
      try {
        return platformOutput(queue as PlatformQueue, task.input);
      } catch (err) {
        if (err instanceof PlatformInputError) throw new ActivityFailure('bad-input', err.message, false);
        throw err;
      }
    },
  });
  worker.onTask((e) => console.log(JSON.stringify({ task: e.type, ...e, queue, workerId })));
  return worker;
});
await Promise.all(workers.map((w) => w.start()));
console.log(JSON.stringify({ worker: 'ready', workerId, queues }));

process.once('SIGTERM', () => {
  void Promise.all(workers.map((w) => w.stop())).then(async () => {
    await nc.drain();
    process.exit(0);
  });
});
