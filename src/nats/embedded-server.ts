/**
 * The embedded default: a child nats-server with JetStream, its store under
 * the data dir, on a port it picks itself. The child dies with us: it runs
 * under `setpriv --pdeathsig KILL` where available, and a server left over
 * from a killed run (found by its pid file) is ended before a new one starts,
 * so a `kill -9` of Loom never blocks the next start on the same data dir.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../log.ts';

export interface EmbeddedNatsServer {
  readonly url: string;
  stop(): Promise<void>;
}

const START_TIMEOUT_MS = 20_000;

export class NatsServerMissingError extends Error {
  override readonly name = 'NatsServerMissingError';
  readonly code = 'nats-server-missing';
  constructor(binary: string, options?: { cause?: unknown }) {
    super(
      `cannot run "${binary}": install nats-server (Debian/Ubuntu: apt-get install nats-server; or a release from the NATS project) ` +
        'and put it on PATH, name it with LOOM_NATS_SERVER_BIN, or point NATS_URL at a running server with JetStream',
      options,
    );
  }
}

/** Debian installs nats-server in /usr/sbin, which a non-root PATH lacks. */
const FALLBACK_DIRS = ['/usr/sbin', '/usr/local/bin', '/usr/local/sbin'];

function resolveBinary(binary: string): string {
  if (binary.includes('/')) return binary;
  const onPath = spawnSync(binary, ['--version'], { stdio: 'ignore' });
  if (onPath.error === undefined) return binary;
  for (const dir of FALLBACK_DIRS) {
    const candidate = path.join(dir, binary);
    if (spawnSync(candidate, ['--version'], { stdio: 'ignore' }).error === undefined) return candidate;
  }
  return binary;
}

function hasSetpriv(): boolean {
  return spawnSync('setpriv', ['--help'], { stdio: 'ignore' }).status === 0;
}

async function endLeftover(pidFile: string, storeDir: string, log: Logger): Promise<void> {
  let pid: number;
  try {
    pid = Number.parseInt((await readFile(pidFile, 'utf8')).trim(), 10);
  } catch (err) {
    log.debug({ err }, 'no leftover nats-server pid file');
    return;
  }
  let cmdline = '';
  try {
    cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).replaceAll('\0', ' ');
  } catch (err) {
    log.debug({ err, pid }, 'leftover nats-server is gone');
  }
  if (cmdline.includes('nats-server') && cmdline.includes(storeDir)) {
    log.warn({ pid }, 'ending nats-server left over from a previous run');
    process.kill(pid, 'SIGKILL');
    for (let i = 0; i < 100; i++) {
      try {
        process.kill(pid, 0);
      } catch {
        break; // gone
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  await rm(pidFile, { force: true });
}

export async function startEmbeddedNatsServer(opts: { binary: string; dataDir: string; log: Logger }): Promise<EmbeddedNatsServer> {
  const log = opts.log.child({ component: 'embedded-nats' });
  const dir = path.join(opts.dataDir, 'nats');
  const storeDir = path.join(dir, 'store');
  const pidFile = path.join(dir, 'nats-server.pid');
  await mkdir(storeDir, { recursive: true });
  await endLeftover(pidFile, storeDir, log);

  // max_payload has no command-line flag in 2.9; a config file carries it.
  const configFile = path.join(dir, 'nats-server.conf');
  await writeFile(configFile, `max_payload: ${8 * 1024 * 1024}\n`);
  const args = ['-c', configFile, '-a', '127.0.0.1', '-p', '-1', '-js', '-sd', storeDir, '-P', pidFile];
  const binary = resolveBinary(opts.binary);
  const [command, argv] = hasSetpriv() ? ['setpriv', ['--pdeathsig', 'KILL', '--', binary, ...args]] : [binary, args];
  // Its own process group: Ctrl-C signals the terminal's foreground group, and
  // the server must outlive Loom's drain (pdeathsig still ends it if Loom dies).
  const child = spawn(command, argv, { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  const url = await waitForReady(child, opts.binary, log);
  log.info({ url, storeDir, pid: child.pid }, 'embedded nats-server started');
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    url,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
      log.info('embedded nats-server stopped');
    },
  };
}

function waitForReady(child: ChildProcess, binary: string, log: Logger): Promise<string> {
  return new Promise((resolve, reject) => {
    const lines: string[] = [];
    let url: string | undefined;
    let buffered = '';
    const timer = setTimeout(() => fail(new Error(`nats-server not ready after ${START_TIMEOUT_MS} ms:\n${lines.join('\n')}`)), START_TIMEOUT_MS);
    const fail = (err: Error) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(err);
    };
    child.once('error', (err: NodeJS.ErrnoException) => fail(err.code === 'ENOENT' ? new NatsServerMissingError(binary, { cause: err }) : err));
    child.once('exit', (code, signal) => {
      if (url === undefined || !lines.some((l) => l.includes('Server is ready'))) {
        const missing = lines.some((l) => /No such file|not found|exec/i.test(l));
        fail(missing ? new NatsServerMissingError(binary) : new Error(`nats-server exited (${code ?? signal}) before ready:\n${lines.join('\n')}`));
      }
    });
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      buffered += chunk;
      const parts = buffered.split('\n');
      buffered = parts.pop() ?? '';
      for (const line of parts) {
        lines.push(line);
        if (lines.length > 100) lines.shift();
        const m = /Listening for client connections on ([\d.]+):(\d+)/.exec(line);
        if (m) url = `nats://${m[1]}:${m[2]}`;
        if (line.includes('Server is ready') && url !== undefined) {
          clearTimeout(timer);
          resolve(url);
        }
        if (/\[(ERR|FTL)\]/.test(line)) log.warn({ line }, 'nats-server');
      }
    });
  });
}
