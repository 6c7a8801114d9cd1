/**
 * Job load generator: many concurrent `document.generate` jobs through the
 * whole engine (job actors on an actors-role process, model calls through
 * the JetStream work queue to an inference-role process calling the fake
 * OpenAI-compatible model server at a fixed latency), started the way an
 * internal service starts them (`actor.job.<id>.start` over NATS) and
 * followed on `event.job.>`. Prints JSON lines: queue depth and progress
 * every sample interval, then one summary with jobs/s and the engine's
 * overhead per model step (step end-to-end minus model time) p50/p99.
 *
 *   node --import tsx load-tests/jobs/run.ts [--jobs 1000] [--sections 5]
 *     [--latency-ms 50] [--worker-concurrency 256] [--submit-concurrency 100] [--max-running 0]
 *     [--sample-ms 1000] [--timeout-s 600]
 *
 * Loopback only; every server is a child of this process and is stopped at
 * the end (or by the watchdog at --timeout-s).
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import pino from 'pino';
import { parseActorId } from '../../protocol/ids.ts';
import { INFERENCE_STREAM } from '../../protocol/inference.ts';
import { encodeJson } from '../../protocol/reply.ts';
import { ActorClient } from '../../src/placement/actor-client.ts';
import { intFlag, printLine as print, runBenchmark, type StopList } from '../benchmark-main.ts';
import type { FakeChatRequest } from '../../src/testing/index.ts';
import { BENCH_MODEL, startBenchCluster } from '../bench-cluster.ts';
import { JobTracker, percentile } from './job-tracker.ts';

const MODEL = BENCH_MODEL;

function options() {
  const { values } = parseArgs({
    options: {
      jobs: { type: 'string', default: '1000' },
      sections: { type: 'string', default: '5' },
      'latency-ms': { type: 'string', default: '50' },
      'worker-concurrency': { type: 'string', default: '256' },
      'submit-concurrency': { type: 'string', default: '100' },
      /** Jobs running at once (0: no limit, every job is started as fast as possible). */
      'max-running': { type: 'string', default: '0' },
      'sample-ms': { type: 'string', default: '1000' },
      'timeout-s': { type: 'string', default: '600' },
    },
    strict: true,
  });
  const int = (name: keyof typeof values, min: number, max: number): number => intFlag(values, name, min, max);
  return {
    jobs: int('jobs', 1, 100_000),
    sections: int('sections', 1, 20),
    latencyMs: int('latency-ms', 0, 60_000),
    workerConcurrency: int('worker-concurrency', 1, 4_096),
    submitConcurrency: int('submit-concurrency', 1, 10_000),
    maxRunning: int('max-running', 0, 1_000_000),
    sampleMs: int('sample-ms', 100, 60_000),
    timeoutS: int('timeout-s', 10, 86_400),
  };
}

/** Valid, short answers for document.generate's prompts. */
function answer(request: FakeChatRequest): string {
  const system = request.messages.find((m) => m.role === 'system')?.content ?? '';
  const user = request.messages.find((m) => m.role === 'user')?.content ?? '';
  if (system.includes('document.generate/outline')) {
    const n = Number(/exactly (\d+) sections/.exec(user)?.[1] ?? 1);
    return JSON.stringify({ title: 'Bench', sections: Array.from({ length: n }, (_, i) => ({ heading: `Part ${i + 1}`, summary: 's' })) });
  }
  return 'A short section body for the benchmark.';
}

async function main(opts: ReturnType<typeof options>, started: StopList): Promise<number> {
  const cluster = await startBenchCluster({ name: 'jobs', model: { respond: answer, firstTokenDelayMs: opts.latencyMs }, workerConcurrency: opts.workerConcurrency }, started);
  const { nats, model } = cluster;
  await cluster.spawn('bench-actors', ['actors']);
  await cluster.spawn('bench-inference', ['inference']);

  const nc = await connect({ servers: nats.url });
  started.unshift(() => nc.close());
  const jsm = await jetstreamManager(nc);
  const client = new ActorClient(nc, { requestTimeoutMs: 10_000, deadlineMs: 60_000, log: pino({ level: 'silent' }) });
  const tracker = new JobTracker(nc);
  tracker.start();
  await nc.flush();

  print({ type: 'start', ...opts, model: MODEL, stepsPerJob: 3 + opts.sections, modelCallsPerJob: 1 + opts.sections });
  const t0 = Date.now();
  let submitted = 0;
  let submitErrors = 0;
  const sampler = setInterval(() => {
    void jsm.streams.info(INFERENCE_STREAM).then(
      (info) => {
        const ended = tracker.ended;
        print({ type: 'sample', tMs: Date.now() - t0, queueDepth: info.state.messages, submitted, running: submitted - ended, ended, modelInFlight: model.inFlight });
      },
      (err: unknown) => process.stderr.write(`jobs: sampling failed: ${(err as Error).message}\n`),
    );
  }, opts.sampleMs);

  const prefix = `bench_${randomBytes(4).toString('hex')}`;
  let next = 0;
  // Starts still awaiting their reply count as running: otherwise every submitter passes the
  // --max-running check at once (submitted only grows after the reply) and up to
  // --submit-concurrency jobs run together.
  let starting = 0;
  const submitter = async () => {
    while (next < opts.jobs) {
      while (opts.maxRunning > 0 && submitted + starting - tracker.ended >= opts.maxRunning) await new Promise((r) => setTimeout(r, 5));
      if (next >= opts.jobs) return;
      const id = parseActorId(`${prefix}_${next++}`);
      const body = encodeJson({ kind: 'document.generate', input: { topic: `Bench ${id}`, sections: opts.sections }, owner: 'bench', priority: 'batch' });
      starting++;
      try {
        await client.request('job', id, 'start', body);
        submitted++;
      } catch (err) {
        submitErrors++;
        process.stderr.write(`jobs: start ${id} failed: ${(err as Error).message}\n`);
      } finally {
        starting--;
      }
    }
  };
  await Promise.all(Array.from({ length: opts.submitConcurrency }, submitter));
  const submittedMs = Date.now() - t0;
  await tracker.waitForEnded(submitted, opts.timeoutS * 1000);
  const totalMs = Date.now() - t0;
  clearInterval(sampler);
  tracker.stop();

  const jobs = [...tracker.jobs.values()];
  // Where a step's time went, from the fake model server's own timestamps (same clock):
  // dispatch = step started -> model call started (queue wait + worker pickup),
  // return = model call ended -> step durable in the job's log (result delivery + append).
  const dispatchMs: number[] = [];
  const returnMs: number[] = [];
  for (const call of model.calls) {
    const user = call.request.messages.find((m) => m.role === 'user')?.content ?? '';
    const id = /Topic: Bench (\S+)/.exec(user)?.[1];
    const section = /Write section (\d+)/.exec(user)?.[1];
    const step = tracker.jobs.get(id ?? '')?.steps.get(section === undefined ? 'outline' : `section-${section}`);
    if (step === undefined || call.endedAt === undefined || call.outcome !== 'ok') continue;
    dispatchMs.push(call.startedAt - step.startedAt);
    returnMs.push(step.succeededAt - call.endedAt);
  }
  const durations = jobs.flatMap((j) => (j.createdAt !== undefined && j.endedAt !== undefined ? [j.endedAt - j.createdAt] : []));
  const waves = 1 + Math.ceil(opts.sections / 4);
  print({
    type: 'summary',
    jobs: submitted,
    submitErrors,
    succeeded: jobs.filter((j) => j.status === 'succeeded').length,
    failed: jobs.filter((j) => j.status !== 'succeeded').length,
    failedAttempts: tracker.failedAttempts,
    modelCalls: model.calls.length,
    modelLatencyMs: opts.latencyMs,
    workerConcurrency: opts.workerConcurrency,
    maxModelInFlight: model.maxInFlight,
    submitSeconds: Math.round(submittedMs / 100) / 10,
    totalSeconds: Math.round(totalMs / 100) / 10,
    jobsPerSecond: Math.round((submitted / (totalMs / 1000)) * 10) / 10,
    modelStepsPerSecond: Math.round((tracker.stepOverheadMs.length / (totalMs / 1000)) * 10) / 10,
    stepOverheadMs: { p50: percentile(tracker.stepOverheadMs, 50), p99: percentile(tracker.stepOverheadMs, 99), count: tracker.stepOverheadMs.length },
    dispatchMs: { p50: percentile(dispatchMs, 50), p99: percentile(dispatchMs, 99) },
    returnMs: { p50: percentile(returnMs, 50), p99: percentile(returnMs, 99) },
    modelMs: { p50: percentile(tracker.modelMs, 50), p99: percentile(tracker.modelMs, 99) },
    jobDurationMs: { p50: percentile(durations, 50), p99: percentile(durations, 99), idealMs: waves * opts.latencyMs },
  });
  return submitErrors === 0 && jobs.every((j) => j.status === 'succeeded') ? 0 : 1;
}

runBenchmark('jobs', options, main);
