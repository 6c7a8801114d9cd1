/**
 * `bench:jobs --pipeline mixed`: a pipeline registered as data (PUT
 * /v1/pipelines/bench.mixed by a bench user) mixing `llm` and `service`
 * steps: plan (llm) -> fetch (service) -> enrich (service), beside a map of
 * `--items` service tasks over the plan's items, then summarise (llm) and
 * an `emit`. Service workers are separate processes (service-worker.ts,
 * `--service-concurrency` tasks at once each, answering after
 * `--service-ms`); the fake model server answers after `--latency-ms`.
 * Jobs are started over NATS the way the gateway starts a registered kind
 * (the start request carries the version it resolved), `--max-running` at
 * a time. Reports steps/s and the engine's overhead per step (step time
 * minus model or worker time, from the job's events) against issue 8's
 * target, and the CPU each process spent per step.
 */
import { randomBytes } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { connect } from '@nats-io/transport-node';
import pino from 'pino';
import { ActorClient } from '../../src/placement/actor-client.ts';
import { spawnChild, type FakeChatRequest } from '../../src/testing/index.ts';
import { printLine as print, type StopList } from '../benchmark-main.ts';
import { profilingEnv } from '../cpu-profile-env.ts';
import { startBenchCluster } from '../bench-cluster.ts';
import { cpuBetween, ProcessTreeMonitor, readHostBusySeconds } from '../collab/proc-stats.ts';
import { apiClient } from '../agents/session-driver.ts';
import { countWork, perTurn } from '../agents/work-per-turn.ts';
import { JOB_LOG_STREAM } from '../../protocol/subjects.ts';
import { JobSubmitter } from './job-submitter.ts';
import { JobTracker, percentile } from './job-tracker.ts';

/** Issue 8's target on the 2-core machine. */
export const MIXED_TARGET = { stepsPerSecond: 1_000, overheadP99Ms: 25 } as const;

export interface MixedOptions {
  readonly jobs: number;
  readonly items: number;
  readonly latencyMs: number;
  readonly workerConcurrency: number;
  readonly submitConcurrency: number;
  readonly maxRunning: number;
  readonly serviceMs: number;
  readonly serviceWorkers: number;
  readonly serviceConcurrency: number;
  readonly sampleMs: number;
  readonly timeoutS: number;
  readonly cpuProfDir: string | undefined;
}

const KIND = 'bench.mixed';
const QUEUES = ['bench-fetch', 'bench-enrich'] as const;
const WORKER = fileURLToPath(new URL('./service-worker.ts', import.meta.url));

/** Loom's environment for `--cpu-prof-dir`: each Loom process writes `<dir>/<pid>.cpuprofile` as it stops. */

/** The registered definition: 6 steps, 6 + items step instances per job (the map and each of its items are steps). */
export const MIXED_DEFINITION = {
  kind: KIND,
  description: 'Benchmark: llm and service steps mixed, with a map of service tasks.',
  input: {
    type: 'object',
    required: ['topic', 'items'],
    properties: { topic: { type: 'string', maxLength: 200 }, items: { type: 'integer', minimum: 1, maximum: 50 } },
  },
  steps: [
    {
      id: 'plan',
      type: 'llm',
      prompt: { system: 'Task: bench.mixed/plan. Answer with JSON only: {"items": [string]}.', user: 'Topic: {{input.topic}}\nItems: {{input.items}}' },
      output: { type: 'object', required: ['items'], properties: { items: { type: 'array', minItems: 1, items: { type: 'string' } } } },
    },
    { id: 'fetch', type: 'service', after: ['plan'], queue: 'bench-fetch', input: { topic: '{{input.topic}}' } },
    { id: 'enrich', type: 'service', after: ['fetch'], queue: 'bench-enrich', input: { fetchedInMs: '{{steps.fetch.output.workMs}}' } },
    { id: 'each', type: 'map', after: ['plan'], over: 'steps.plan.output.items', maxParallel: 4, step: { type: 'service', queue: 'bench-fetch', input: { item: '{{item}}' } } },
    {
      id: 'summarise',
      type: 'llm',
      after: ['enrich', 'each'],
      prompt: { system: 'Task: bench.mixed/summary. Answer in one sentence.', user: 'Topic: {{input.topic}}\nItems done: {{#steps.each.output}}{{workMs}} {{/steps.each.output}}' },
    },
    { id: 'done', type: 'emit', after: ['summarise'], event: 'bench.completed', data: { jobId: '{{job.id}}' } },
  ],
} as const;

/** Answers for the two llm steps: a plan of N items (N from the prompt), a one-line summary. */
function answer(request: FakeChatRequest): string {
  const system = request.messages.find((m) => m.role === 'system')?.content ?? '';
  const user = request.messages.find((m) => m.role === 'user')?.content ?? '';
  if (system.includes('bench.mixed/plan')) {
    const n = Number(/Items: (\d+)/.exec(user)?.[1] ?? 1);
    return JSON.stringify({ items: Array.from({ length: n }, (_, i) => `item ${i + 1}`) });
  }
  return 'All done.';
}

const stat = (xs: readonly number[]) => ({ p50: percentile(xs, 50), p99: percentile(xs, 99), count: xs.length });

export async function runMixed(opts: MixedOptions, started: StopList): Promise<number> {
  const cluster = await startBenchCluster(
    { name: 'jobs-mixed', model: { respond: answer, firstTokenDelayMs: opts.latencyMs }, workerConcurrency: opts.workerConcurrency, env: profilingEnv(opts.cpuProfDir) },
    started,
  );
  const { nats, postgres, model } = cluster;
  const actors = await cluster.spawn('bench-actors', ['actors']);
  // One at a time: on the loaded 2-core machine two starting at once can each miss the 60 s readiness wait.
  const inference = await cluster.spawn('bench-inference', ['inference']);
  const gateway = await cluster.spawn('bench-gateway', ['gateway']);

  const workers = Array.from({ length: opts.serviceWorkers }, (_, i) =>
    spawnChild({
      name: `bench-worker-${i}`,
      command: process.execPath,
      args: ['--import', 'tsx', WORKER],
      env: { ...process.env, NATS_URL: nats.url, QUEUES: QUEUES.join(','), CONCURRENCY: String(opts.serviceConcurrency), WORK_MS: String(opts.serviceMs), WORKER_ID: `bench-${i}` },
    }),
  );
  started.unshift(...workers.map((w) => () => w.stop()));
  await Promise.all(workers.map((w) => w.waitForLine(/"worker":"ready"/, 60_000)));
  process.stderr.write(`jobs: ${workers.length} service workers ready\n`);

  // A bench user registers the definition, as a platform would.
  const anonymous = apiClient(gateway.httpUrl, '');
  const reg = await anonymous.request<{ user?: { id: string }; tokens?: { accessToken: string } }>('POST', '/v1/auth/register', {
    email: `bench-${randomBytes(6).toString('hex')}@bench.example`,
    password: 'correct horse battery staple',
  });
  if (reg.status !== 201 || reg.body.tokens === undefined || reg.body.user === undefined) throw new Error(`POST /v1/auth/register answered ${reg.status}: ${JSON.stringify(reg.body)}`);
  const api = apiClient(gateway.httpUrl, reg.body.tokens.accessToken);
  const put = await api.request<{ version?: number }>('PUT', `/v1/pipelines/${KIND}`, MIXED_DEFINITION);
  if ((put.status !== 200 && put.status !== 201) || typeof put.body.version !== 'number') throw new Error(`PUT /v1/pipelines/${KIND} answered ${put.status}: ${JSON.stringify(put.body).slice(0, 400)}`);
  const got = await api.request<{ definition?: object }>('GET', `/v1/pipelines/${KIND}/versions/${put.body.version}`);
  if (got.status !== 200 || got.body.definition === undefined) throw new Error(`GET /v1/pipelines/${KIND}/versions/${put.body.version} answered ${got.status}`);
  const pipeline = { kind: KIND, version: put.body.version, definition: got.body.definition };
  const owner = reg.body.user.id;
  process.stderr.write(`jobs: ${KIND} v${pipeline.version} registered\n`);

  const nc = await connect({ servers: nats.url });
  started.unshift(() => nc.close());
  const client = new ActorClient(nc, { requestTimeoutMs: 10_000, deadlineMs: 60_000, log: pino({ level: 'silent' }) });
  const tracker = new JobTracker(nc);
  tracker.start();
  await nc.flush();

  const labels = new Map<number, string>();
  for (const [p, label] of [[actors, 'loom actors'], [inference, 'loom inference'], [gateway, 'loom gateway'], ...workers.map((w) => [w, 'service workers'] as const)] as const) {
    if (p.pid !== undefined) labels.set(p.pid, label);
  }
  if (nats.pid !== undefined) labels.set(nats.pid, 'nats-server');
  if (postgres.pid !== undefined) labels.set(postgres.pid, 'postgres');
  const monitor = new ProcessTreeMonitor([...labels.keys()]);
  monitor.start(1_000);
  started.unshift(async () => monitor.stop());

  const host = { cpus: cpus().length, loadavg1AtStart: Math.round((loadavg()[0] ?? 0) * 100) / 100 };
  print({ type: 'start', pipeline: 'mixed', ...opts, stepsPerJob: 6 + opts.items, host });
  const workBefore = await countWork(nc, cluster.databaseUrl, JOB_LOG_STREAM);
  const before = { processes: monitor.sample(), self: process.cpuUsage(), hostBusy: readHostBusySeconds() };
  const t0 = Date.now();
  const submitter = new JobSubmitter(client, tracker, { jobs: opts.jobs, concurrency: opts.submitConcurrency, maxRunning: opts.maxRunning });
  const sampler = setInterval(() => {
    print({ type: 'sample', tMs: Date.now() - t0, submitted: submitter.submitted, running: submitter.submitted - tracker.ended, ended: tracker.ended, stepsSucceeded: tracker.succeededAt.length, modelInFlight: model.inFlight });
  }, opts.sampleMs);

  // Started as the gateway starts a registered kind: the request carries the version it resolved.
  await submitter.run((id) => ({ kind: KIND, input: { topic: `Bench ${id}`, items: opts.items }, owner, priority: 'batch', pipeline }));
  await tracker.waitForEnded(submitter.submitted, opts.timeoutS * 1000);
  const totalMs = Date.now() - t0;
  clearInterval(sampler);
  tracker.stop();
  const after = { processes: monitor.sample(), self: process.cpuUsage(), hostBusy: readHostBusySeconds() };
  const work = perTurn(workBefore, await countWork(nc, cluster.databaseUrl, JOB_LOG_STREAM), tracker.succeededAt.length);

  const jobs = [...tracker.jobs.values()];
  const steps = tracker.succeededAt.length;
  // Sustained rate: steps per whole second of the actors' clock, the median over the middle 80% of the run's seconds.
  const first = Math.min(...tracker.succeededAt);
  const perSecond = new Map<number, number>();
  for (const at of tracker.succeededAt) perSecond.set(Math.floor((at - first) / 1000), (perSecond.get(Math.floor((at - first) / 1000)) ?? 0) + 1);
  const seconds = Math.max(...perSecond.keys(), 0) + 1;
  const counts = Array.from({ length: seconds }, (_, s) => perSecond.get(s) ?? 0).slice(Math.floor(seconds * 0.1), Math.max(1, Math.ceil(seconds * 0.9)));
  const overhead = [...tracker.stepOverheadMs, ...tracker.serviceOverheadMs];
  const overheadP99 = percentile(overhead, 99);
  const stepsPerSecond = Math.round((steps / (totalMs / 1000)) * 10) / 10;

  const spent = cpuBetween(before.processes, after.processes);
  const byLabel = new Map<string, number>();
  for (const [pid, s] of spent) {
    const name = labels.get(pid) ?? `${after.processes.get(pid)?.name ?? 'process'} (child)`;
    byLabel.set(name, (byLabel.get(name) ?? 0) + s);
  }
  const serversCpu = [...spent.values()].reduce((a, b) => a + b, 0);
  const selfCpu = (after.self.user - before.self.user + after.self.system - before.self.system) / 1e6;
  const busy = after.hostBusy - before.hostBusy;
  print({
    type: 'summary',
    pipeline: 'mixed',
    jobs: submitter.submitted,
    submitErrors: submitter.errors,
    succeeded: jobs.filter((j) => j.status === 'succeeded').length,
    failed: jobs.filter((j) => j.status !== 'succeeded').length,
    failedAttempts: tracker.failedAttempts,
    totalSeconds: Math.round(totalMs / 100) / 10,
    steps,
    stepsPerSecond,
    sustainedStepsPerSecond: percentile(counts, 50),
    stepOverheadMs: { all: stat(overhead), llm: stat(tracker.stepOverheadMs), service: stat(tracker.serviceOverheadMs) },
    modelMs: stat(tracker.modelMs),
    workMs: stat(tracker.workMs),
    target: { ...MIXED_TARGET, met: stepsPerSecond >= MIXED_TARGET.stepsPerSecond && overheadP99 !== null && overheadP99 < MIXED_TARGET.overheadP99Ms },
    // Durable work per step: job log appends and PostgreSQL commits (the projection, mostly).
    workPerStep: { logAppends: work.logAppends, sqlTransactions: work.sqlTransactions },
    cpuMsPerStep: Object.fromEntries([...byLabel].map(([name, s]) => [name, Math.round((s * 1000 * 100) / Math.max(1, steps)) / 100])),
    host: {
      ...host,
      loadavg1AtEnd: Math.round((loadavg()[0] ?? 0) * 100) / 100,
      busyPercent: Math.round((busy / (totalMs / 1000) / host.cpus) * 100),
      othersCpuSeconds: Math.round(Math.max(0, busy - serversCpu - selfCpu) * 10) / 10,
      generatorCpuSeconds: Math.round(selfCpu * 10) / 10,
    },
  });
  return submitter.errors === 0 && jobs.every((j) => j.status === 'succeeded') ? 0 : 1;
}
