/**
 * Agent-session load generator: `--sessions` clients at once, each driving
 * agent sessions over the public HTTP API and following them over SSE
 * (session-driver.ts), against Loom as real processes (gateway, actors,
 * inference; nats-server and PostgreSQL from the test harness). Every turn:
 * `--tool-calls` calls of a tool served by a NATS micro-service in this
 * process (`--calls-per-step` per model call), then a final answer; every
 * model call is answered by the suite's fake OpenAI-compatible server after
 * `--latency-ms`. Prints JSON lines: `start`, a `sample` now and then, then
 * `summary` with turns/s, Loom's overhead per step p50/p99 beside the target,
 * and model token to SSE client p99.
 *
 *   node --import tsx load-tests/agents/run.ts [--sessions 50] [--duration 30] [--warmup 3]
 *     [--turns 5] [--tool-calls 3] [--calls-per-step 1] [--latency-ms 50] [--answer-tokens 8]
 *     [--layout split|combined] [--worker-concurrency 256] [--sample-ms 5000] [--timeout-s 300] [--cpu-prof-dir DIR]
 *
 * Loopback only; every server is a child of this process and is stopped at
 * the end (or by the watchdog at --timeout-s).
 */
import { randomUUID } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { connect } from '@nats-io/transport-node';
import { AGENT_LOG_STREAM } from '../../protocol/subjects.ts';
import { BENCH_MODEL, startBenchCluster } from '../bench-cluster.ts';
import { intFlag, printLine as print, runBenchmark, type StopList } from '../benchmark-main.ts';
import { profilingEnv } from '../cpu-profile-env.ts';
import { ProcessTreeMonitor, readHostBusySeconds } from '../collab/proc-stats.ts';
import { BENCH_TOOL, BenchModel, startBenchToolService } from './outside-world.ts';
import { apiClient, driveSessions, DriverFigures, type ApiClient } from './session-driver.ts';
import { summarizeRun, TARGET_STEP_OVERHEAD_P99_MS, type CpuSample } from './summary.ts';
import { TurnLedger } from './turn-ledger.ts';
import { countWork, InferencePullCounter, perTurn } from './work-per-turn.ts';

const LOOP_DELAY_RESOLUTION_MS = 10;

function options() {
  const { values } = parseArgs({
    options: {
      sessions: { type: 'string', default: '50' },
      duration: { type: 'string', default: '30' },
      warmup: { type: 'string', default: '3' },
      turns: { type: 'string', default: '5' },
      'tool-calls': { type: 'string', default: '3' },
      'calls-per-step': { type: 'string', default: '1' },
      'latency-ms': { type: 'string', default: '50' },
      'answer-tokens': { type: 'string', default: '8' },
      layout: { type: 'string', default: 'split' },
      'worker-concurrency': { type: 'string', default: '256' },
      'sample-ms': { type: 'string', default: '5000' },
      'timeout-s': { type: 'string', default: '300' },
      /** Writes a V8 CPU profile of each Loom process there when it stops (where the overhead's CPU goes). */
      'cpu-prof-dir': { type: 'string' },
    },
    strict: true,
  });
  const int = (name: keyof typeof values, min: number, max: number): number => intFlag(values, name, min, max);
  const layout = values.layout;
  if (layout !== 'split' && layout !== 'combined') throw new Error('--layout must be split or combined');
  const toolCalls = int('tool-calls', 0, 50);
  const callsPerStep = int('calls-per-step', 1, 20);
  if (toolCalls % callsPerStep !== 0) throw new Error('--tool-calls must be a multiple of --calls-per-step');
  return {
    sessions: int('sessions', 1, 5_000),
    durationS: int('duration', 1, 3_600),
    warmupS: int('warmup', 0, 600),
    turns: int('turns', 1, 1_000),
    toolCalls,
    callsPerStep,
    latencyMs: int('latency-ms', 0, 60_000),
    answerTokens: int('answer-tokens', 1, 1_000),
    layout,
    workerConcurrency: int('worker-concurrency', 1, 4_096),
    sampleMs: int('sample-ms', 100, 600_000),
    timeoutS: int('timeout-s', 10, 86_400),
    cpuProfDir: values['cpu-prof-dir'],
  } as const;
}

type Options = ReturnType<typeof options>;

/** A registered user's API client; fails with the gateway's answer if registration does not work. */
async function registerUser(baseUrl: string): Promise<ApiClient> {
  const anonymous = apiClient(baseUrl, '');
  const r = await anonymous.request<{ tokens?: { accessToken: string } }>('POST', '/v1/auth/register', { email: `bench-${randomUUID()}@bench.example`, password: 'correct horse battery staple' });
  if (r.status !== 201 || r.body.tokens === undefined) throw new Error(`POST /v1/auth/register answered ${r.status}: ${JSON.stringify(r.body)}`);
  return apiClient(baseUrl, r.body.tokens.accessToken);
}

/** One session before the load, so a missing feature fails here with one clear message (and the tool is discovered). */
async function preflight(api: ApiClient, maxSteps: number): Promise<void> {
  const r = await api.request('POST', '/v1/agent-sessions', { tools: [BENCH_TOOL], maxSteps });
  if (r.status === 201) return;
  const hint = r.status === 404 || r.status === 503 ? ' (are agent sessions wired into the gateway and actors roles?)' : '';
  throw new Error(`agent sessions unavailable: POST /v1/agent-sessions answered ${r.status}${hint}: ${JSON.stringify(r.body).slice(0, 400)}`);
}

async function main(opts: Options, started: StopList): Promise<number> {
  const steps = opts.toolCalls / opts.callsPerStep + 1;
  const ledger = new TurnLedger();
  const bench = new BenchModel({ ledger, toolSteps: steps - 1, callsPerStep: opts.callsPerStep, latencyMs: opts.latencyMs, answerTokens: opts.answerTokens });
  const { nats, postgres, model, databaseUrl, loom, spawn } = await startBenchCluster(
    {
      name: 'agents',
      model: { respond: bench.respond, firstTokenDelayMs: 0 },
      workerConcurrency: opts.workerConcurrency,
      env: {
        LOOM_RATE_API_BURST: '1000000',
        LOOM_RATE_API_PER_S: '1000000',
        ...profilingEnv(opts.cpuProfDir),
      },
    },
    started,
  );
  // The actors host first: it applies the migrations the others find done.
  const gateway =
    opts.layout === 'combined'
      ? await spawn('bench-all', ['gateway', 'actors', 'inference'])
      : await spawn('bench-actors', ['actors']).then(async () => (await Promise.all([spawn('bench-gateway', ['gateway']), spawn('bench-inference', ['inference'])]))[0]);

  const nc = await connect({ servers: nats.url });
  started.unshift(() => nc.close());
  const service = await startBenchToolService(nc, ledger);
  started.unshift(() => service.stop());
  const api = await registerUser(gateway.httpUrl);
  await preflight(api, steps + 1);

  const labels = new Map<number, string>();
  for (const p of loom) if (p.pid !== undefined) labels.set(p.pid, `loom ${p.name.replace('bench-', '')}`);
  if (nats.pid !== undefined) labels.set(nats.pid, 'nats-server');
  if (postgres.pid !== undefined) labels.set(postgres.pid, 'postgres');
  const monitor = new ProcessTreeMonitor([...labels.keys()]);
  monitor.start(1_000);
  started.unshift(async () => monitor.stop());
  const cpuSample = (): CpuSample => ({ processes: monitor.sample(), self: process.cpuUsage(), hostBusySeconds: readHostBusySeconds() });

  const pulls = new InferencePullCounter(nc);
  started.unshift(async () => pulls.stop());
  const workBefore = await countWork(nc, databaseUrl, AGENT_LOG_STREAM, pulls);
  const host = { cpus: cpus().length, loadavg1AtStart: Math.round((loadavg()[0] ?? 0) * 100) / 100 };
  print({ type: 'start', ...opts, model: BENCH_MODEL, stepsPerTurn: steps, host });
  const t0 = performance.now();
  const measureFrom = t0 + opts.warmupS * 1000;
  const stopAt = measureFrom + opts.durationS * 1000;
  const figures = new DriverFigures();
  const loopDelay = monitorEventLoopDelay({ resolution: LOOP_DELAY_RESOLUTION_MS });
  let before: CpuSample | undefined;
  const windowOpens = setTimeout(() => {
    before = cpuSample();
    loopDelay.enable();
  }, measureFrom - t0);
  const sampler = setInterval(() => {
    const done = [...ledger.all()].filter((t) => t.endedAt !== undefined).length;
    print({ type: 'sample', tS: Math.round((performance.now() - t0) / 1000), sessions: figures.sessions, turnsEnded: done, modelInFlight: model.inFlight, clientErrors: figures.errors.length });
  }, opts.sampleMs);
  const driver = { api, ledger, model: bench, start: { tools: [BENCH_TOOL], maxSteps: steps + 1 }, turnsPerSession: opts.turns, measureFrom, stopAt, turnTimeoutMs: 60_000 };
  let after: CpuSample | undefined;
  const windowCloses = setTimeout(() => {
    after = cpuSample();
    loopDelay.disable();
  }, stopAt - t0);
  await Promise.all(Array.from({ length: opts.sessions }, () => driveSessions(driver, figures)));
  clearTimeout(windowOpens);
  clearTimeout(windowCloses);
  clearInterval(sampler);
  after ??= cpuSample();
  if (before === undefined) throw new Error('the run ended before its measuring window opened');

  const work = perTurn(workBefore, await countWork(nc, databaseUrl, AGENT_LOG_STREAM, pulls), [...ledger.all()].length);
  const excessMs = (ns: number) => Math.max(0, Math.round((ns / 1e6 - LOOP_DELAY_RESOLUTION_MS) * 10) / 10);
  const summary = summarizeRun({
    ledger,
    model: bench,
    figures,
    steps,
    latencyMs: opts.latencyMs,
    windowMs: { from: measureFrom, to: stopAt },
    labels,
    cpu: { before, after, cpus: host.cpus },
    eventLoopDelayMs: { p99: loopDelay.count > 0 ? excessMs(loopDelay.percentile(99)) : 0, max: loopDelay.count > 0 ? excessMs(loopDelay.max) : 0 },
  });
  print({ ...summary.line, workPerTurn: work, layout: opts.layout, sessions: opts.sessions, loadavg1AtEnd: Math.round((loadavg()[0] ?? 0) * 100) / 100 });
  const { target } = summary;
  process.stderr.write(
    `agents: step overhead p99 ${target.valueMs ?? 'n/a'} ms against a target of ${TARGET_STEP_OVERHEAD_P99_MS} ms at ${opts.sessions} sessions: ${target.met ? 'met' : 'NOT met'}\n`,
  );
  return figures.errors.length === 0 && summary.turnsFailed === 0 ? 0 : 1;
}

runBenchmark('agents', options, main);
