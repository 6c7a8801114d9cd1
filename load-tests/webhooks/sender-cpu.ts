/**
 * CPU of the dispatcher's HTTP client alone, per attempt: the benchmark's
 * receivers (`--endpoints` loopback servers answering after
 * `--receiver-ms`) in a child process whose CPU is not counted, and
 * `--attempts` signed-size POSTs through WebhookSender, one at a time per
 * endpoint and all endpoints at once, as the dispatcher sends. A warm-up
 * of `--warmup` attempts comes first. Prints one JSON line: CPU ms (user +
 * system) of this process per 1,000 attempts.
 *
 *   node --import tsx load-tests/webhooks/sender-cpu.ts [--attempts 10000] [--endpoints 100] [--receiver-ms 5] [--warmup 2000]
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { WebhookSender } from '../../src/webhooks/webhook-sender.ts';
import { intFlag, printLine } from '../benchmark-main.ts';
import { ReceiverFarm } from './receivers.ts';

const { values } = parseArgs({
  options: {
    serve: { type: 'boolean', default: false },
    attempts: { type: 'string', default: '10000' },
    endpoints: { type: 'string', default: '100' },
    'receiver-ms': { type: 'string', default: '5' },
    warmup: { type: 'string', default: '2000' },
  },
  strict: true,
});
const endpoints = intFlag(values, 'endpoints', 1, 1_000);
const receiverMs = intFlag(values, 'receiver-ms', 0, 10_000);

if (values.serve) {
  // Child: the receivers, answering until the parent disconnects.
  const farm = await ReceiverFarm.start(endpoints, receiverMs);
  process.send?.(farm.urls());
  process.once('disconnect', () => void farm.close());
} else {
  const attempts = intFlag(values, 'attempts', 1, 10_000_000);
  const warmup = intFlag(values, 'warmup', 0, 10_000_000);
  const child = fork(fileURLToPath(import.meta.url), ['--serve', '--endpoints', String(endpoints), '--receiver-ms', String(receiverMs)], { execArgv: ['--import', 'tsx'] });
  const [urls] = (await once(child, 'message')) as [string[]];
  const sender = new WebhookSender({ timeoutMs: 10_000, allowPrivate: true });
  const body = JSON.stringify({ type: 'job.succeeded', timestamp: new Date().toISOString(), data: { jobId: 'j1234' } });
  const headers = { 'webhook-id': 'evt_bench_1', 'webhook-timestamp': '1700000000', 'webhook-signature': `v1,${'A'.repeat(44)}` };
  // One attempt in flight per endpoint; the dispatcher also yields (its attempt write) between two.
  const run = async (count: number): Promise<number> => {
    let left = count;
    let failed = 0;
    await Promise.all(
      urls.map(async (url) => {
        while (left-- > 0) {
          if (!(await sender.send(url, headers, body)).ok) failed++;
          await yieldToLoop();
        }
      }),
    );
    return failed;
  };
  await run(warmup);
  const before = process.cpuUsage();
  const started = performance.now();
  const failed = await run(attempts);
  const cpu = process.cpuUsage(before);
  printLine({
    benchmark: 'webhook-sender-cpu',
    attempts,
    endpoints,
    receiverMs,
    failed,
    wallS: Math.round(performance.now() - started) / 1_000,
    cpuMsPer1kAttempts: Math.round(((cpu.user + cpu.system) / 1_000 / attempts) * 1_000 * 10) / 10,
  });
  await sender.close();
  child.disconnect();
}
