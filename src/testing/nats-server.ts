/**
 * nats-server.ts: a real nats-server with JetStream for tests.
 *
 * The first start lets the server pick a free port (`-p -1`) and reads it
 * from the log; later starts pass that port back, so clients that reconnect
 * find the same server with the same store directory. This is the nats.js
 * `nst` design, on the Debian nats-server 2.9.10 these machines carry.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { formatOutput, spawnChild, type Child } from './child-process.ts';
import { ServerLifecycle } from './server-lifecycle.ts';

/** Options for {@link startNatsServer}. */
export interface StartNatsServerOptions {
  /** A server config file, passed as `-c`; the harness's flags override its listen address, port and store dir. */
  configFile?: string;
  /** Extra command-line arguments, appended last. */
  args?: string[];
  /** Path or name of the executable. Default `nats-server` (from PATH). */
  binary?: string;
}

/** A nats-server owned by a test. */
export interface NatsServerHandle {
  /** `nats://127.0.0.1:PORT`, the same across restarts. */
  readonly url: string;
  readonly port: number;
  /** JetStream store directory (`-sd`), kept across restarts. */
  readonly storeDir: string;
  /** Pid of the current process; undefined while stopped. */
  readonly pid: number | undefined;
  /** SIGTERM and wait for exit (SIGKILL after 10 s). */
  stop(): Promise<void>;
  /** SIGKILL and wait for exit: a crash. */
  kill(): Promise<void>;
  /** Start again after stop/kill on the same port and store dir; no-op while running. */
  start(): Promise<void>;
  /** stop() then start(). */
  restart(): Promise<void>;
  /** Stop if running and remove the temp dir. Idempotent. */
  dispose(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

const START_TIMEOUT_MS = 15_000;
const BIND_ATTEMPTS = 5;
const LISTENING = /Listening for client connections on \S+:(\d+)/;
const READY = /Server is ready/;
const ADDRESS_IN_USE = /address already in use/i;

/**
 * Starts nats-server with JetStream on a free 127.0.0.1 port in a fresh temp
 * dir and resolves once it logs "Server is ready".
 *
 * @throws {Error} if the server exits or is not ready within 15 s; the
 *   message carries the reason and the server's recent log lines.
 * @example
 *   await using nats = await startNatsServer();
 *   const nc = await connect({ servers: nats.url });
 */
export async function startNatsServer(opts: StartNatsServerOptions = {}): Promise<NatsServerHandle> {
  const dir = await mkdtemp(join(tmpdir(), 'loom-nats-'));
  const server = new NatsServer(dir, opts);
  try {
    await server.start();
  } catch (err) {
    await server.dispose();
    throw err;
  }
  return server;
}

class NatsServer extends ServerLifecycle implements NatsServerHandle {
  readonly storeDir: string;
  #opts: StartNatsServerOptions;
  #port: number | undefined;

  constructor(dir: string, opts: StartNatsServerOptions) {
    // SIGTERM, then SIGKILL after 10 s.
    super('nats-server', dir, 10_000);
    this.#opts = opts;
    this.storeDir = join(dir, 'store');
  }

  get port(): number {
    if (this.#port === undefined) throw new Error('nats-server has not started yet');
    return this.#port;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.assertNotDisposed();
    if (this.child?.running) return;
    for (let attempt = 1; ; attempt += 1) {
      const child = this.#spawn();
      try {
        await this.#awaitReady(child);
        this.child = child;
        return;
      } catch (err) {
        await child.kill();
        // A restart on a fixed port can race the old socket's release.
        const retry = this.#port !== undefined && attempt < BIND_ATTEMPTS && child.output().some((l) => ADDRESS_IN_USE.test(l));
        if (!retry) throw this.startError(err, child);
        await delay(100 * attempt);
      }
    }
  }

  #spawn(): Child {
    const { configFile, args = [], binary = 'nats-server' } = this.#opts;
    return spawnChild({
      name: 'nats-server',
      command: binary,
      args: [
        ...(configFile ? ['-c', configFile] : []),
        '-a', '127.0.0.1',
        '-p', String(this.#port ?? -1),
        '-js',
        '-sd', this.storeDir,
        ...args,
      ],
      cwd: this.dir,
    });
  }

  async #awaitReady(child: Child): Promise<void> {
    const deadline = Date.now() + START_TIMEOUT_MS;
    const listening = await child.waitForLine(LISTENING, START_TIMEOUT_MS);
    const port = Number(listening[1]);
    if (this.#port !== undefined && port !== this.#port) {
      throw new Error(`nats-server listened on ${port}, not on ${this.#port}${formatOutput(child.output())}`);
    }
    this.#port = port;
    await child.waitForLine(READY, Math.max(1, deadline - Date.now()));
  }
}
