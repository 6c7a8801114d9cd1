/**
 * Starts the server under test as a child process on a free loopback port,
 * waits until it answers HTTP, and stops it again (SIGTERM, then SIGKILL).
 *
 * Loom: `node --import tsx src/main.ts` with PORT, a fresh LOOM_DATA_DIR and
 * no NATS_URL/DATABASE_URL, so it runs its own nats-server child and PGlite,
 * gateway and actor roles in one process; ready when GET /readyz is 200.
 * Hocuspocus: hocuspocus-server.ts in memory; ready when GET / is 200.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startNatsCluster, type NatsClusterHandle } from '../../src/testing/nats-cluster.ts';
import type { Target } from './load-spec.ts';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, '..', '..');
const logTailBytes = 16_384;

export interface ServerHandle {
  readonly target: Target;
  readonly pid: number;
  readonly port: number;
  /** Processes of the server that are not its children (the NATS cluster of `loom-cluster`). */
  readonly peerPids: readonly number[];
  /** What y-websocket or HocuspocusProvider connects to. */
  readonly baseUrl: string;
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

function freePort(): Promise<number> {
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
export async function startServer(target: Target, readyTimeoutMs: number, clusterSize = 3): Promise<ServerHandle> {
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
    // BENCH_CPU_PROF_DIR: write a V8 CPU profile of the Loom process there (to see where the time goes).
    const profileDir = process.env.BENCH_CPU_PROF_DIR;
    args = [...(profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : []), '--import', 'tsx', 'src/main.ts'];
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
  return { target, pid: child.pid, peerPids, port, baseUrl, logTail: () => tail, stop };
}
