/**
 * A service worker as its own OS process, for the service-activity tests
 * (a platform's worker, seen from Loom). It serves one queue with the
 * ActivityWorker helper and prints one JSON line per task event, which the
 * tests count: `{"task":"completed","taskId":...,"accepted":true}`. What it
 * does with a task is the task's input (service-test-pipeline.ts). Settings:
 * NATS_URL, QUEUE, WORKER_ID.
 *
 *   node --import tsx src/testing/activity-worker.ts
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { connectWorkerProcess } from './activity-worker-process.ts';
import { z } from 'zod';
import { ActivityFailure, ActivityWorker } from '../activities/worker.ts';
import { gateSubject, WORKER_BEHAVIOURS } from './service-test-pipeline.ts';

const workerId = process.env.WORKER_ID ?? `worker-${process.pid}`;
const queue = process.env.QUEUE ?? 'test-work';
const { log, nc, jsm, presence } = await connectWorkerProcess(workerId);

const taskInput = z.object({ behave: z.enum(WORKER_BEHAVIOURS), value: z.string(), ms: z.number().int() });

const worker = new ActivityWorker({
  nc,
  jsm,
  presence,
  queue,
  workerId,
  log,
  handler: async (task, ctx) => {
    const input = taskInput.parse(task.input);
    // Subscribed before 'working' is printed: the test may open the gate as soon as it reads that line.
    const gate = input.behave === 'gated' ? nc.subscribe(gateSubject(task.taskId), { max: 1 }) : null;
    if (gate !== null) await nc.flush();
    console.log(JSON.stringify({ task: 'working', taskId: task.taskId, attempt: task.attempt, workerId }));
    switch (input.behave) {
      case 'echo':
        return { echoed: input.value, by: workerId };
      case 'fail-first-attempt':
        if (task.attempt === 1) throw new ActivityFailure('flaky', 'first attempts fail here', true);
        return { echoed: input.value, by: workerId, attempt: task.attempt };
      case 'fail-terminal':
        throw new ActivityFailure('bad-input', `cannot work on ${JSON.stringify(input.value)}`, false);
      case 'slow':
        await ctx.heartbeat({ stage: 'started' });
        await sleep(input.ms, undefined, { signal: ctx.signal });
        return { echoed: input.value, by: workerId };
      case 'gated':
        ctx.signal.addEventListener('abort', () => gate?.unsubscribe(), { once: true });
        for await (const opened of gate ?? []) {
          return { echoed: input.value, by: workerId, gate: opened.subject };
        }
        throw new ActivityFailure('gate-closed', 'the gate subscription ended unopened', true);
      case 'hang':
        await sleep(600_000, undefined, { signal: ctx.signal });
        return null;
    }
  },
});
worker.onTask((e) => console.log(JSON.stringify({ task: e.type, ...e, workerId })));
await worker.start();
console.log(JSON.stringify({ worker: 'ready', workerId, queue }));

process.once('SIGTERM', () => {
  void worker.stop().then(async () => {
    await nc.drain();
    process.exit(0);
  });
});
