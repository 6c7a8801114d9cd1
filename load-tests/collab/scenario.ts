/**
 * One measurement: one server under one load. Starts the server and the
 * client workers, connects every client, runs the edit window, waits for
 * convergence, collects the figures, and stops everything it started.
 */
import { randomBytes } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import type { LoadSpec, Target } from './load-spec.ts';
import type { ClientAssignment, ClientState } from './messages.ts';
import { ProcessTreeMonitor, readHostBusySeconds, readProcess, type ProcessFigures } from './proc-stats.ts';
import { buildReport, type Report, type Sample } from './report.ts';
import { startServer, type ServerHandle } from './server-process.ts';
import { WorkerPool } from './worker-pool.ts';

export interface ScenarioOptions {
  readonly workers: number;
  readonly convergeTimeoutMs: number;
  /** Nodes of the `loom-cluster` target's NATS cluster. */
  readonly natsCluster?: number;
}

const syncTimeoutMs = 60_000;
const sampleIntervalMs = 250;

/** Stops whatever the running scenario started; run.ts calls it from its watchdog and signal handlers. */
let abortActive: (() => Promise<void>) | undefined;
export function abortRunningScenario(): Promise<void> {
  return abortActive?.() ?? Promise.resolve();
}

const nowMs = (): number => performance.timeOrigin + performance.now();

function assignClients(load: LoadSpec, workers: number): ClientAssignment[][] {
  const runId = randomBytes(4).toString('hex');
  const shares: ClientAssignment[][] = Array.from({ length: workers }, () => []);
  for (let d = 0; d < load.docs; d += 1) {
    const docName = `bench-${runId}-d${d}`;
    for (let c = 0; c < load.clients; c += 1) {
      // Round robin over (doc, client) pairs: each worker gets an even share,
      // and the clients of one document sit in different processes.
      shares[(d * load.clients + c) % workers]?.push({ docName, clientIndex: c });
    }
  }
  return shares;
}

function convergedDocs(states: readonly ClientState[], expected: ReadonlyMap<string, number>, clients: number): number {
  const byDoc = new Map<string, ClientState[]>();
  for (const state of states) {
    const list = byDoc.get(state.docName);
    if (list === undefined) byDoc.set(state.docName, [state]);
    else list.push(state);
  }
  let converged = 0;
  for (const [docName, docStates] of byDoc) {
    const first = docStates[0];
    if (first === undefined || docStates.length !== clients) continue;
    const want = expected.get(docName) ?? 0;
    if (docStates.every((s) => s.stateVector === first.stateVector && s.edits === want)) converged += 1;
  }
  return converged;
}

/**
 * Descendants of the server that outlive it (Loom's nats-server, tsx's
 * esbuild service) get 3 s to exit on their own, then SIGTERM and SIGKILL by
 * PID. Returns the ones that had to be signalled.
 */
async function reapLeftovers(rootPid: number, seen: ReadonlyMap<number, ProcessFigures>): Promise<string[]> {
  const alive = (): ProcessFigures[] =>
    [...seen.values()].filter((f) => f.pid !== rootPid && readProcess(f.pid)?.name === f.name);
  const waitGone = async (ms: number): Promise<void> => {
    const until = Date.now() + ms;
    while (Date.now() < until && alive().length > 0) await new Promise((wake) => setTimeout(wake, 100));
  };
  const signal = (f: ProcessFigures, name: NodeJS.Signals): void => {
    try {
      process.kill(f.pid, name);
    } catch (err) {
      // ESRCH: it exited between the check and the signal, which is what we wanted.
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
  };
  await waitGone(3_000);
  const leftovers = alive();
  for (const f of leftovers) signal(f, 'SIGTERM');
  await waitGone(3_000);
  for (const f of alive()) signal(f, 'SIGKILL');
  return leftovers.map((f) => `${f.name}(${f.pid})`);
}

function sample(server: ProcessTreeMonitor, generator: ProcessTreeMonitor): Sample {
  return {
    atMs: nowMs(),
    server: server.sample(),
    generator: generator.sample(),
    self: process.cpuUsage(),
    hostBusySeconds: readHostBusySeconds(),
  };
}

/** A started server with its clients connected and synced, ready for edit windows. */
export interface Session {
  /** One edit window at `rate` edits/s per client for durationMs, then convergence; its report line. */
  window(rate: number, durationMs: number): Promise<Report>;
  /** Stops the clients and the server; idempotent. */
  close(): Promise<void>;
}

/**
 * Starts the server and connects every client of the load.
 * @throws when the server does not start or the clients cannot connect; everything started is stopped first.
 */
export async function openSession(target: Target, load: LoadSpec, options: ScenarioOptions): Promise<Session> {
  const host = { cpus: cpus().length, loadavg1: Math.round((loadavg()[0] ?? 0) * 100) / 100 };
  // Loom's first start runs PGlite's initdb (tens of seconds on a busy machine): up to 5 min to get ready.
  const server: ServerHandle = await startServer(target, target.startsWith('hocuspocus') ? 30_000 : 300_000, options.natsCluster ?? 3);
  // The cluster's nats-servers (and the other processes of the x2 setups) are not the first process's children: they count as the server too.
  const serverMonitor = new ProcessTreeMonitor([server.pid, ...server.peerPids]);
  serverMonitor.start(sampleIntervalMs);
  let pool: WorkerPool | undefined;
  let generatorMonitor: ProcessTreeMonitor | undefined;
  let stopped = false;
  const stopAll = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    serverMonitor.stop();
    generatorMonitor?.stop();
    await pool?.stop(10_000, true);
    await server.stop(10_000);
    const leftovers = await reapLeftovers(server.pid, serverMonitor.sample());
    if (leftovers.length > 0) process.stderr.write(`collab: killed leftovers of ${target}: ${leftovers.join(', ')}\n`);
    abortActive = undefined;
  };
  abortActive = stopAll;
  const failed = async (err: unknown): Promise<never> => {
    process.stderr.write(`collab: ${target} failed; server log tail:\n${server.logTail()}\n`);
    await stopAll();
    throw err;
  };
  let s0: Sample;
  try {
    pool = WorkerPool.start(options.workers);
    generatorMonitor = new ProcessTreeMonitor(pool.pids);
    generatorMonitor.start(sampleIntervalMs);
    const shares = assignClients(load, options.workers);
    s0 = sample(serverMonitor, generatorMonitor);
    await pool.ask(
      (i) => ({ type: 'setup', target, baseUrls: server.baseUrls, clients: shares[i] ?? [], syncTimeoutMs }),
      'ready',
      syncTimeoutMs * Math.ceil(load.docs * load.clients / options.workers / 50) + 10_000,
    );
  } catch (err) {
    return failed(err);
  }
  const workers = pool;
  const generator = generatorMonitor;
  const connected = s0;
  return {
    close: stopAll,
    async window(rate, durationMs) {
      try {
        const s1 = sample(serverMonitor, generator);
        // One start instant for all workers, a little ahead so every worker has it in time.
        const startAtMs = nowMs() + 300;
        const edited = await workers.ask(() => ({ type: 'start', startAtMs, rate, durationMs }), 'edited', durationMs + 60_000);
        const s2 = sample(serverMonitor, generator);
        const expected = new Map<string, number>();
        for (const reply of edited) {
          for (const [docName, sent] of Object.entries(reply.sentByDoc)) expected.set(docName, (expected.get(docName) ?? 0) + sent);
        }
        let converged = 0;
        let convergeMs = Number.NaN;
        const convergeStart = nowMs();
        while (nowMs() - convergeStart < options.convergeTimeoutMs) {
          const replies = await workers.ask(() => ({ type: 'report' }), 'states', 10_000);
          converged = convergedDocs(replies.flatMap((r) => r.states), expected, load.clients);
          if (converged === load.docs) {
            convergeMs = nowMs() - convergeStart;
            break;
          }
          await new Promise((wake) => setTimeout(wake, 200));
        }
        const s3 = sample(serverMonitor, generator);
        const results = await workers.ask(() => ({ type: 'collect' }), 'results', 30_000);
        return buildReport({
          target, load: { ...load, rate, durationS: durationMs / 1000 }, workers: options.workers, host, samples: [connected, s1, s2, s3],
          serverPid: server.pid, edited, results, expected, converged, convergeMs,
        });
      } catch (err) {
        return failed(err);
      }
    },
  };
}

/**
 * Runs one server under one load and returns its report line.
 * @throws when the server does not start or the clients cannot connect; everything started is stopped first.
 */
export async function runScenario(target: Target, load: LoadSpec, options: ScenarioOptions): Promise<Report> {
  const session = await openSession(target, load, options);
  try {
    return await session.window(load.rate, load.durationS * 1000);
  } finally {
    await session.close();
  }
}
