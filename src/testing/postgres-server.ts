/**
 * postgres-server.ts: a real PostgreSQL for tests, from `initdb` in a temp dir.
 *
 * The cluster lives in its own temp dir with its own socket dir, on a free
 * 127.0.0.1 port that stays the same across restarts. Durability settings
 * are relaxed only where a process crash cannot lose data: fsync and full
 * page writes are off (the OS keeps what was written), but commits stay
 * synchronous, so a row whose COMMIT returned survives kill() + start().
 */
import { randomBytes } from 'node:crypto';
import { access, chown, constants, mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import pg from 'pg';
import { describeExit, formatOutput, spawnChild, type Child } from './child-process.ts';
import { freePort } from './free-port.ts';
import { ServerLifecycle } from './server-lifecycle.ts';
import { waitFor } from './wait-for.ts';

/** Options for {@link startPostgresServer}. */
export interface StartPostgresServerOptions {
  /** Directory holding `initdb` and `postgres`. Default `/usr/lib/postgresql/15/bin`, else the newest installed. */
  binDir?: string;
}

/** A PostgreSQL server owned by a test. */
export interface PostgresServerHandle {
  readonly port: number;
  /** `postgres://postgres@127.0.0.1:PORT/postgres` (trust auth), the same across restarts. */
  readonly url: string;
  /** The cluster's data directory, inside the temp dir that dispose() removes. */
  readonly dataDir: string;
  /** Pid of the postmaster; undefined while stopped. */
  readonly pid: number | undefined;
  /** Creates a database (random `test_…` name if none) and returns its URL. */
  createDatabase(name?: string): Promise<string>;
  /** Fast shutdown (SIGINT: disconnects clients, checkpoints), SIGKILL after 15 s. */
  stop(): Promise<void>;
  /** SIGKILL the postmaster and all its backends: a crash. */
  kill(): Promise<void>;
  /** Start again after stop/kill on the same port and data dir; no-op while running. */
  start(): Promise<void>;
  /** stop() then start(). */
  restart(): Promise<void>;
  /** Stop if running and remove the temp dir. Idempotent. */
  dispose(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

const START_TIMEOUT_MS = 30_000;
const START_ATTEMPTS = 5;
const READY = /database system is ready to accept connections/;
/** Failures worth another try: a taken port, or the old cluster's processes not quite gone. */
const PORT_TAKEN = /could not bind|address already in use|could not create any TCP\/IP sockets/i;
const STILL_HELD = /pre-existing shared memory block|lock file .* already exists/i;

/**
 * Runs `initdb` into a fresh temp dir and starts `postgres` on a free port,
 * resolving once it accepts connections. As root, both run as the
 * `postgres` system user.
 *
 * @throws {Error} if the binaries are missing (naming `apt-get install
 *   postgresql`), initdb fails, or the server is not ready within 30 s; the
 *   message carries the reason and the recent log lines.
 * @example
 *   await using pgServer = await startPostgresServer();
 *   const url = await pgServer.createDatabase();
 */
export async function startPostgresServer(opts: StartPostgresServerOptions = {}): Promise<PostgresServerHandle> {
  const binDir = opts.binDir ?? (await findPostgresBinDir());
  const owner = process.getuid?.() === 0 ? await lookupSystemUser('postgres') : undefined;
  const dir = await mkdtemp(join(tmpdir(), 'loom-pg-'));
  const server = new PostgresServer(dir, binDir, owner);
  try {
    await server.init();
    await server.start();
  } catch (err) {
    await server.dispose();
    throw err;
  }
  return server;
}

class PostgresServer extends ServerLifecycle implements PostgresServerHandle {
  readonly dataDir: string;
  #socketDir: string;
  #binDir: string;
  #owner: SystemUser | undefined;
  #port: number | undefined;

  constructor(dir: string, binDir: string, owner: SystemUser | undefined) {
    // Fast shutdown (SIGINT), then SIGKILL after 15 s.
    super('postgres', dir, 15_000);
    this.#binDir = binDir;
    this.#owner = owner;
    this.dataDir = join(dir, 'data');
    this.#socketDir = join(dir, 'socket');
  }

  get port(): number {
    if (this.#port === undefined) throw new Error('postgres has not started yet');
    return this.#port;
  }

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  /** Creates the cluster; the temp dir goes to the postgres user first when we are root. */
  async init(): Promise<void> {
    await mkdir(this.#socketDir);
    if (this.#owner) {
      await chown(this.dir, this.#owner.uid, this.#owner.gid);
      await chown(this.#socketDir, this.#owner.uid, this.#owner.gid);
    }
    const initdb = this.#spawn('initdb', [
      '-D', this.dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync',
    ]);
    const exit = await initdb.waitForExit(120_000).catch(async (err: unknown) => {
      await initdb.kill();
      throw err;
    });
    if (exit.code !== 0) {
      throw new Error(`postgres initdb failed: ${describeExit(exit)}${formatOutput(initdb.output())}`, { cause: exit.error });
    }
  }

  async start(): Promise<void> {
    this.assertNotDisposed();
    if (this.child?.running) return;
    await this.#removeStalePidFile();
    const fixedPort = this.#port !== undefined;
    for (let attempt = 1; ; attempt += 1) {
      const port = this.#port ?? (await freePort());
      const child = this.#spawn('postgres', [
        '-D', this.dataDir, '-p', String(port), '-k', this.#socketDir, '-h', '127.0.0.1',
        '-c', 'fsync=off', '-c', 'full_page_writes=off', '-c', 'max_connections=200',
      ], { processGroup: true, stopSignal: 'SIGINT' });
      try {
        await this.#awaitReady(child, port);
        this.#port = port;
        this.child = child;
        return;
      } catch (err) {
        await child.kill();
        const log = child.output();
        const portTaken = log.some((l) => PORT_TAKEN.test(l));
        const held = log.some((l) => STILL_HELD.test(l));
        if (attempt >= START_ATTEMPTS || !(portTaken || held)) throw this.startError(err, child);
        // A free port chosen by us can be taken before postgres binds it:
        // pick another. A fixed one (restart) we wait for instead.
        if (fixedPort || held) await delay(100 * attempt);
      }
    }
  }

  async createDatabase(name = `test_${randomBytes(6).toString('hex')}`): Promise<string> {
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`invalid database name ${JSON.stringify(name)}: use [a-z0-9_]`);
    const client = new pg.Client({ connectionString: this.url, connectionTimeoutMillis: 5_000, query_timeout: 30_000 });
    await client.connect();
    try {
      await client.query(`CREATE DATABASE "${name}"`);
    } finally {
      await client.end();
    }
    return `postgres://postgres@127.0.0.1:${this.port}/${name}`;
  }

  #spawn(binary: string, args: string[], extra: { processGroup?: boolean; stopSignal?: NodeJS.Signals } = {}): Child {
    return spawnChild({
      name: binary,
      command: join(this.#binDir, binary),
      args,
      cwd: this.dir,
      uid: this.#owner?.uid,
      gid: this.#owner?.gid,
      ...extra,
    });
  }

  async #awaitReady(child: Child, port: number): Promise<void> {
    await child.waitForLine(READY, START_TIMEOUT_MS);
    // The log line comes after the sockets open; one real query confirms it.
    await waitFor(() => canQuery(port), { timeoutMs: 5_000, intervalMs: 50, what: `postgres on port ${port} to answer a query` });
  }

  /**
   * After kill() the postmaster.pid of the dead cluster stays behind. Postgres
   * ignores it only while its pid is unused; a reused pid would block the
   * start, so we drop the file once we know our postmaster has exited.
   */
  async #removeStalePidFile(): Promise<void> {
    const previous = this.child;
    if (!previous || previous.running) return;
    await previous.waitForExit();
    await rm(join(this.dataDir, 'postmaster.pid'), { force: true });
  }
}

async function canQuery(port: number): Promise<boolean> {
  const client = new pg.Client({
    connectionString: `postgres://postgres@127.0.0.1:${port}/postgres`,
    connectionTimeoutMillis: 2_000,
    query_timeout: 2_000,
  });
  await client.connect();
  try {
    await client.query('SELECT 1');
    return true;
  } finally {
    await client.end();
  }
}

const DEFAULT_BIN_DIR = '/usr/lib/postgresql/15/bin';
const INSTALL_ROOT = '/usr/lib/postgresql';

/** A system account that owns the cluster when the tests run as root. */
interface SystemUser {
  uid: number;
  gid: number;
}

/** PostgreSQL 15's bin dir, else the newest `/usr/lib/postgresql/N/bin` that has a server. */
async function findPostgresBinDir(): Promise<string> {
  if (await hasServer(DEFAULT_BIN_DIR)) return DEFAULT_BIN_DIR;
  const versions = await readdir(INSTALL_ROOT).catch(() => [] as string[]);
  const newestFirst = versions.filter((v) => /^\d+(\.\d+)?$/.test(v)).sort((a, b) => Number(b) - Number(a));
  for (const version of newestFirst) {
    const dir = join(INSTALL_ROOT, version, 'bin');
    if (await hasServer(dir)) return dir;
  }
  throw new Error(
    `no PostgreSQL server binaries (initdb, postgres) under ${INSTALL_ROOT}/*/bin; ` +
      'install them with `apt-get install postgresql` or pass binDir',
  );
}

async function hasServer(binDir: string): Promise<boolean> {
  try {
    await access(join(binDir, 'initdb'), constants.X_OK);
    await access(join(binDir, 'postgres'), constants.X_OK);
    return true;
  } catch {
    // Missing or not executable: the caller tries the next directory.
    return false;
  }
}

/** Reads a user's uid/gid from /etc/passwd (no getpwnam in Node). */
async function lookupSystemUser(name: string): Promise<SystemUser> {
  const passwd = await readFile('/etc/passwd', 'utf8');
  for (const line of passwd.split('\n')) {
    const [user, , uid, gid] = line.split(':');
    if (user === name && uid && gid) return { uid: Number(uid), gid: Number(gid) };
  }
  throw new Error(
    `running as root, but there is no "${name}" user in /etc/passwd to run PostgreSQL as ` +
      '(postgres refuses to run as root); `apt-get install postgresql` creates it',
  );
}
