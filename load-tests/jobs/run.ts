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
 *   node --import tsx load-tests/jobs/run.ts --pipeline mixed [--items 3] [--service-ms 20]
 *     [--service-workers 2] [--service-concurrency 64] [--cpu-prof-dir DIR] (mixed-pipeline.ts)
 *
 * Loopback only; every server is a child of this process and is stopped at
 * the end (or by the watchdog at --timeout-s).
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import pino from 'pino';
import { INFERENCE_STREAM } from '../../protocol/inference.ts';
import { ActorClient } from '../../src/placement/actor-client.ts';
import { intFlag, printLine as print, runBenchmark, type StopList } from '../benchmark-main.ts';
import type { FakeChatRequest } from '../../src/testing/index.ts';
import { BENCH_MODEL, startBenchCluster } from '../bench-cluster.ts';
import { JobSubmitter } from './job-submitter.ts';
import { JobTracker, percentile } from './job-tracker.ts';
import { profilingEnv } from '../cpu-profile-env.ts';
import { runMixed } from './mixed-pipeline.ts';

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
      /** `document`: document.generate (built-in); `mixed`: the registered llm + service pipeline of mixed-pipeline.ts. */
      pipeline: { type: 'string', default: 'document' },
      /** mixed: items of the map step (service tasks per job beside fetch and enrich). */
      items: { type: 'string', default: '3' },
      /** mixed: how long a service worker takes per task. */
      'service-ms': { type: 'string', default: '20' },
      /** mixed: service worker processes, each serving both queues. */
      'service-workers': { type: 'string', default: '2' },
      /** mixed: tasks each worker process runs at once, per queue. */
      'service-concurrency': { type: 'string', default: '64' },
      /** Writes a V8 CPU profile of each Loom process there when it stops. */
      'cpu-prof-dir': { type: 'string' },
    },
    strict: true,
  });
  const int = (name: keyof typeof values, min: number, max: number): number => intFlag(values, name, min, max);
  const pipeline = values.pipeline;
  if (pipeline !== 'document' && pipeline !== 'mixed') throw new Error('--pipeline must be document or mixed');
  return {
    pipeline,
    items: int('items', 1, 50),
    serviceMs: int('service-ms', 0, 60_000),
    serviceWorkers: int('service-workers', 1, 64),
    serviceConcurrency: int('service-concurrency', 1, 1_024),
    cpuProfDir: values['cpu-prof-dir'] === undefined ? undefined : path.resolve(values['cpu-prof-dir']),
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
  if (opts.pipeline === 'mixed') return runMixed(opts, started);
  const cluster = await startBenchCluster(
    { name: 'jobs', model: { respond: answer, firstTokenDelayMs: opts.latencyMs }, workerConcurrency: opts.workerConcurrency, env: profilingEnv(opts.cpuProfDir) },
    started,
  );
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
  const submitter = new JobSubmitter(client, tracker, { jobs: opts.jobs, concurrency: opts.submitConcurrency, maxRunning: opts.maxRunning });
  const sampler = setInterval(() => {
    void jsm.streams.info(INFERENCE_STREAM).then(
      (info) => {
        const ended = tracker.ended;
        print({ type: 'sample', tMs: Date.now() - t0, queueDepth: info.state.messages, submitted: submitter.submitted, running: submitter.submitted - ended, ended, modelInFlight: model.inFlight });
      },
      (err: unknown) => process.stderr.write(`jobs: sampling failed: ${(err as Error).message}\n`),
    );
  }, opts.sampleMs);

  await submitter.run((id) => ({ kind: 'document.generate', input: { topic: `Bench ${id}`, sections: opts.sections }, owner: 'bench', priority: 'batch' }));
  const submittedMs = Date.now() - t0;
  await tracker.waitForEnded(submitter.submitted, opts.timeoutS * 1000);
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
    const step = tracker.jobs.get(id ?? '')?.steps.get(section === undefined ? 'outline' : `sections.${section}`);
    if (step === undefined || call.endedAt === undefined || call.outcome !== 'ok') continue;
    dispatchMs.push(call.startedAt - step.startedAt);
    returnMs.push(step.succeededAt - call.endedAt);
  }
  const durations = jobs.flatMap((j) => (j.createdAt !== undefined && j.endedAt !== undefined ? [j.endedAt - j.createdAt] : []));
  const waves = 1 + Math.ceil(opts.sections / 4);
  print({
    type: 'summary',
    jobs: submitter.submitted,
    submitErrors: submitter.errors,
    succeeded: jobs.filter((j) => j.status === 'succeeded').length,
    failed: jobs.filter((j) => j.status !== 'succeeded').length,
    failedAttempts: tracker.failedAttempts,
    modelCalls: model.calls.length,
    modelLatencyMs: opts.latencyMs,
    workerConcurrency: opts.workerConcurrency,
    maxModelInFlight: model.maxInFlight,
    submitSeconds: Math.round(submittedMs / 100) / 10,
    totalSeconds: Math.round(totalMs / 100) / 10,
    jobsPerSecond: Math.round((submitter.submitted / (totalMs / 1000)) * 10) / 10,
    modelStepsPerSecond: Math.round((tracker.stepOverheadMs.length / (totalMs / 1000)) * 10) / 10,
    stepOverheadMs: { p50: percentile(tracker.stepOverheadMs, 50), p99: percentile(tracker.stepOverheadMs, 99), count: tracker.stepOverheadMs.length },
    dispatchMs: { p50: percentile(dispatchMs, 50), p99: percentile(dispatchMs, 99) },
    returnMs: { p50: percentile(returnMs, 50), p99: percentile(returnMs, 99) },
    modelMs: { p50: percentile(tracker.modelMs, 50), p99: percentile(tracker.modelMs, 99) },
    jobDurationMs: { p50: percentile(durations, 50), p99: percentile(durations, 99), idealMs: waves * opts.latencyMs },
  });
  return submitter.errors === 0 && jobs.every((j) => j.status === 'succeeded') ? 0 : 1;
}

runBenchmark('jobs', options, main);
