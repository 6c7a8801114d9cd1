/**
 * Starts the server under test as a child process on a free loopback port,
 * waits until it answers HTTP, and stops it again (SIGTERM, then SIGKILL).
 *
 * Loom: `node dist/main.js` (the bundle `npm start` builds and runs) with PORT, a fresh LOOM_DATA_DIR and
 * no NATS_URL/DATABASE_URL, so it runs its own nats-server child and PGlite,
 * gateway and actor roles in one process; ready when GET /readyz is 200.
 * Hocuspocus: hocuspocus-server.ts in memory; ready when GET / is 200.
 * hocuspocus-x2: two hocuspocus-server.ts processes joined by
 * @hocuspocus/extension-redis through a redis-server of our own (free port,
 * temp dir, no persistence). loom-x2: two gateways and two actor hosts on
 * one nats-server and one PostgreSQL, started by the test harness
 * (bench-cluster.ts). Clients are dealt across the entry points (baseUrls).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loomEntry } from '../../src/testing/loom-process.ts';
import { startNatsCluster, type NatsClusterHandle } from '../../src/testing/nats-cluster.ts';
import { startBenchCluster } from '../bench-cluster.ts';
import { benchLoomEntry, type StopList } from '../benchmark-main.ts';
import { profilingEnv } from '../cpu-profile-env.ts';
import type { Target } from './load-spec.ts';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, '..', '..');
const logTailBytes = 16_384;

export interface ServerHandle {
  readonly target: Target;
  readonly pid: number;
  readonly port: number;
  /** Processes of the server that are not its children (the NATS cluster of `loom-cluster`, the other processes of the x2 setups). */
  readonly peerPids: readonly number[];
  /** What y-websocket or HocuspocusProvider connects to: one per entry point (gateway, Hocuspocus process). */
  readonly baseUrls: readonly string[];
  /** The last lines the server printed (stdout and stderr together). */
  logTail(): string;
  /** SIGTERM, then SIGKILL after graceMs; resolves once the process has exited. */
  stop(graceMs: number): Promise<void>;
}

export class ServerStartError extends Error {
  override readonly name = 'ServerStartError';
  readonly code = 'server-start';
  constructor(message: string, readonly logTail: string, options?: ErrorOptions) {
    super(message, options);
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      probe.close(() => resolvePort(port));
    });
  });
}

function exitOf(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((done) => child.once('exit', () => done()));
}

async function waitUntilReady(url: string, child: ChildProcess, deadlineMs: number): Promise<void> {
  const until = Date.now() + deadlineMs;
  let last = 'no answer yet';
  while (Date.now() < until) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`server exited (code ${String(child.exitCode)}, signal ${String(child.signalCode)}) before ready`);
    }
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(1_000) });
      await response.arrayBuffer();
      if (response.status === 200) return;
      last = `HTTP ${response.status}`;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    await new Promise((wake) => setTimeout(wake, 200));
  }
  throw new Error(`${url} not ready within ${deadlineMs} ms (last: ${last})`);
}

/**
 * Starts one server and waits until it is ready.
 * @throws ServerStartError with the server's log tail when it exits or stays unready.
 */
export async function startServer(
  target: Target,
  readyTimeoutMs: number,
  clusterSize = 3,
  /** Set last for `loom` (idle-docs.ts passes DATABASE_URL and NATS_URL). */
  extraEnv: Readonly<Record<string, string>> = {},
): Promise<ServerHandle> {
  if (target === 'hocuspocus-x2') return startHocuspocusPair(readyTimeoutMs);
  if (target === 'loom-x2') return startLoomSplit();
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env };
  let args: string[];
  let readyUrl: string;
  let baseUrl: string;
  let dataDir: string | undefined;
  let cluster: NatsClusterHandle | undefined;
  if (target === 'loom-cluster') {
    cluster = await startNatsCluster({ size: clusterSize });
    Object.assign(env, { NATS_URL: cluster.urls, LOOM_NATS_REPLICAS: String(clusterSize) });
  }
  if (target === 'loom' || target === 'loom-cluster') {
    dataDir = mkdtempSync(join(tmpdir(), 'loom-bench-'));
    if (cluster === undefined) delete env.NATS_URL;
    delete env.DATABASE_URL;
    // The benchmark measures the collaboration path, without accounts (see LOOM_DOC_ACCESS),
    // and opens every client from loopback: no per-address socket limit.
    Object.assign(env, { PORT: String(port), LOOM_DATA_DIR: dataDir, LOG_LEVEL: 'warn', LOOM_DOC_ACCESS: 'open', LOOM_WS_MAX_CONNECTIONS_PER_IP: '0' });
    Object.assign(env, extraEnv);
    // BENCH_CPU_PROF_DIR: write a V8 CPU profile of the Loom process there (to see where the time goes).
    const profileDir = process.env.BENCH_CPU_PROF_DIR;
    const launch = await loomEntry(benchLoomEntry());
    Object.assign(env, launch.env);
    args = [...(profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : []), ...launch.args];
    readyUrl = `http://127.0.0.1:${port}/readyz`;
    baseUrl = `ws://127.0.0.1:${port}/collab`;
  } else {
    args = ['--import', 'tsx', join(here, 'hocuspocus-server.ts'), String(port)];
    readyUrl = `http://127.0.0.1:${port}/`;
    baseUrl = `ws://127.0.0.1:${port}`;
  }
  const child = spawn(process.execPath, args, { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let tail = '';
  const keep = (chunk: Buffer): void => {
    tail = (tail + chunk.toString('utf8')).slice(-logTailBytes);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = exitOf(child);
  const removeDataDir = async (): Promise<void> => {
    if (dataDir !== undefined) rmSync(dataDir, { recursive: true, force: true });
    await cluster?.dispose();
  };
  const stop = async (graceMs: number): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    }
    await removeDataDir();
  };
  if (child.pid === undefined) {
    await cluster?.dispose();
    throw new ServerStartError(`could not spawn ${target}`, tail);
  }
  try {
    await waitUntilReady(readyUrl, child, readyTimeoutMs);
  } catch (err) {
    await stop(5_000);
    throw new ServerStartError(`${target}: ${err instanceof Error ? err.message : String(err)}`, tail, { cause: err });
  }
  const peerPids = cluster?.nodes.flatMap((n) => (n.pid === undefined ? [] : [n.pid])) ?? [];
  return { target, pid: child.pid, peerPids, port, baseUrls: [baseUrl], logTail: () => tail, stop };
}

interface LoggedChild {
  readonly child: ChildProcess;
  readonly pid: number;
  tail(): string;
  /** SIGTERM, then SIGKILL after graceMs; resolves once the process has exited. */
  stop(graceMs: number): Promise<void>;
}

/** Spawns a child whose stdout and stderr are kept as a short tail (and read line by line by `onLine`). */
function spawnLogged(name: string, command: string, args: readonly string[], onLine?: (line: string) => void): LoggedChild {
  const child = spawn(command, args, { cwd: repoRoot, env: process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let tail = '';
  let partial = '';
  const keep = (chunk: Buffer): void => {
    const text = chunk.toString('utf8');
    tail = (tail + text).slice(-logTailBytes);
    if (onLine === undefined) return;
    const lines = (partial + text).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) onLine(line);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = exitOf(child);
  if (child.pid === undefined) throw new ServerStartError(`could not spawn ${name}`, tail);
  return {
    child,
    pid: child.pid,
    tail: () => `[${name}]\n${tail}`,
    async stop(graceMs) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** A redis-server of our own on a free loopback port, nothing persisted; resolves once it accepts connections. */
async function startRedis(dir: string, readyTimeoutMs: number): Promise<{ readonly port: number; readonly process: LoggedChild }> {
  const port = await freePort();
  let onReady: () => void = () => undefined;
  const ready = new Promise<void>((resolveReady) => {
    onReady = resolveReady;
  });
  const redis = spawnLogged('redis-server', 'redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], (line) => {
    if (line.includes('Ready to accept connections')) onReady();
  });
  const timeout = new Promise<never>((_, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis-server not ready within ${readyTimeoutMs} ms`)), readyTimeoutMs);
    void ready.then(() => clearTimeout(timer));
  });
  try {
    await Promise.race([ready, timeout, exitOf(redis.child).then(() => Promise.reject(new Error('redis-server exited before ready (is it installed? `which redis-server`)')))]);
  } catch (err) {
    await redis.stop(5_000);
    throw new ServerStartError(err instanceof Error ? err.message : String(err), redis.tail(), { cause: err });
  }
  return { port, process: redis };
}

/** Hocuspocus x 2 + Redis: two in-memory Hocuspocus processes that share documents through Redis pub/sub. */
async function startHocuspocusPair(readyTimeoutMs: number): Promise<ServerHandle> {
  const dir = mkdtempSync(join(tmpdir(), 'hocuspocus-redis-'));
  const started: LoggedChild[] = [];
  const stop = async (graceMs: number): Promise<void> => {
    // Hocuspocus first: it flushes to Redis on close.
    await Promise.all(started.slice(1).map((p) => p.stop(graceMs)));
    await started[0]?.stop(graceMs);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const redis = await startRedis(dir, readyTimeoutMs);
    started.push(redis.process);
    const ports = await Promise.all([freePort(), freePort()]);
    for (const [i, port] of ports.entries()) {
      const server = spawnLogged(`hocuspocus-${i + 1}`, process.execPath, ['--import', 'tsx', join(here, 'hocuspocus-server.ts'), String(port), String(redis.port)]);
      started.push(server);
      await waitUntilReady(`http://127.0.0.1:${port}/`, server.child, readyTimeoutMs);
    }
    const [, first, second] = started;
    if (first === undefined || second === undefined) throw new Error('hocuspocus processes missing');
    return {
      target: 'hocuspocus-x2',
      pid: first.pid,
      peerPids: [second.pid, redis.process.pid],
      port: ports[0] ?? 0,
      baseUrls: ports.map((port) => `ws://127.0.0.1:${port}`),
      logTail: () => started.map((p) => p.tail()).join('\n'),
      stop,
    };
  } catch (err) {
    const tails = started.map((p) => p.tail()).join('\n');
    await stop(5_000);
    if (err instanceof ServerStartError) throw err;
    throw new ServerStartError(`hocuspocus-x2: ${err instanceof Error ? err.message : String(err)}`, tails, { cause: err });
  }
}

/** Loom as two gateways and two actor hosts on one nats-server and one PostgreSQL (the test harness's). */
async function startLoomSplit(): Promise<ServerHandle> {
  const stops: StopList = [];
  const stop = async (): Promise<void> => {
    for (const step of stops.splice(0)) {
      try {
        await step();
      } catch (err) {
        process.stderr.write(`collab: loom-x2 cleanup step failed: ${err instanceof Error ? err.message : String(err)}\n`);
      }
    }
  };
  const profileDir = process.env.BENCH_CPU_PROF_DIR || undefined;
  try {
    const cluster = await startBenchCluster({
      name: 'collab',
      model: {},
      workerConcurrency: 1,
      // Every client from loopback: no per-address socket limit. BENCH_CPU_PROF_DIR: a V8 CPU profile of each Loom process.
      env: { LOOM_WS_MAX_CONNECTIONS_PER_IP: '0', ...profilingEnv(profileDir) },
    }, stops);
    // One after the other: the first actor host applies the migrations, and on a
    // busy 2-core machine processes started together miss the harness's 60 s ready wait.
    for (const [name, role] of [['actors-1', 'actors'], ['actors-2', 'actors'], ['gateway-1', 'gateway'], ['gateway-2', 'gateway']] as const) {
      await cluster.spawn(name, [role]);
    }
    const pids = [...cluster.loom.map((p) => p.pid), cluster.nats.pid, cluster.postgres.pid].flatMap((pid) => (pid === undefined ? [] : [pid]));
    const [first, ...rest] = pids;
    if (first === undefined) throw new Error('no Loom process pid');
    const gateways = cluster.loom.filter((p) => p.name.startsWith('gateway'));
    return {
      target: 'loom-x2',
      pid: first,
      peerPids: rest,
      port: gateways[0]?.port ?? 0,
      baseUrls: gateways.map((g) => `${g.wsUrl}/collab`),
      logTail: () => cluster.loom.map((p) => `[${p.name}]\n${p.output().slice(-40).join('\n')}`).join('\n'),
      stop,
    };
  } catch (err) {
    await stop();
    throw new ServerStartError(`loom-x2: ${err instanceof Error ? err.message : String(err)}`, '', { cause: err });
  }
}
