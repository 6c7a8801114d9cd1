/**
 * Runs Loom itself as a separate OS process (`node --import tsx src/main.ts`,
 * or with `entry: 'bundle'` the dist/main.js that `npm start` runs) with chosen roles, so integration tests cross real process boundaries and
 * can SIGKILL a host. The HTTP port is picked by the process on first start
 * and kept across restarts, so clients reconnect to the same address.
 */
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { Role } from '../config.ts';
import { spawnChild, type Child } from './child-process.ts';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const READY = /"msg":"loom ready"/;
const PORT_IN_READY = /"port":(\d+)/;

export interface LoomProcessOptions {
  /** Becomes LOOM_INSTANCE_ID (and the gateway id / host id in leases). */
  readonly name: string;
  readonly roles: readonly Role[];
  readonly natsUrl?: string;
  readonly databaseUrl?: string;
  readonly dataDir?: string;
  /** Extra LOOM_* settings, e.g. short idle or lease times. LOOM_DOC_ACCESS defaults to `open` here. */
  readonly env?: Readonly<Record<string, string>>;
  /** How long a start may take to print "loom ready" (default 60 s; a loaded machine starting many processes needs more). */
  readonly readyTimeoutMs?: number;
  /**
   * `sources` (default): src/main.ts through tsx, as the tests run everything.
   * `bundle`: dist/main.js, built first by scripts/build.ts as `npm start` does.
   */
  readonly entry?: 'sources' | 'bundle';
}

let bundleBuilt: Promise<unknown> | undefined;
/** Builds dist/ once per test process (what `npm start` builds before it runs). */
export function ensureBundle(): Promise<unknown> {
  bundleBuilt ??= import('../../scripts/build.ts').then((m) => m.buildBundles());
  return bundleBuilt;
}

/** The node arguments, and the environment beside them, that start Loom from `entry` (the bundle as `npm start` runs it). */
export async function loomEntry(entry: 'sources' | 'bundle' = 'sources'): Promise<{ args: string[]; env: Record<string, string> }> {
  if (entry === 'sources') return { args: ['--import', 'tsx', 'src/main.ts'], env: {} };
  await ensureBundle();
  const { BUNDLE_ENV, BUNDLE_NODE_ARGS } = await import('../../scripts/build.ts');
  return { args: [...BUNDLE_NODE_ARGS, 'dist/main.js'], env: { ...BUNDLE_ENV } };
}

export interface LoomProcess {
  readonly name: string;
  /** HTTP/WebSocket port (stable across restarts). */
  readonly port: number;
  readonly httpUrl: string;
  /** Base for y-websocket: `${wsUrl}/collab` + '/' + room. */
  readonly wsUrl: string;
  readonly pid: number | undefined;
  output(): string[];
  /** Lines of output matching `pattern` (for counting activations etc.). */
  grep(pattern: RegExp): string[];
  start(): Promise<void>;
  /** SIGTERM and wait (graceful drain). */
  stop(): Promise<void>;
  /** SIGKILL and wait. */
  kill(): Promise<void>;
}

let jwtKeys: string | undefined;
/**
 * The LOOM_JWT_KEYS value every Loom process started by this test process
 * gets: one random `test:<secret>` key, made on first use. Tests that need
 * a token the processes accept (an expired one, say) sign with it.
 */
export function testJwtKeys(): string {
  jwtKeys ??= `test:${randomBytes(32).toString('base64url')}`;
  return jwtKeys;
}

export async function startLoomProcess(opts: LoomProcessOptions): Promise<LoomProcess> {
  let port = 0;
  let child: Child | undefined;
  const lines: string[] = [];

  const start = async () => {
    const launch = await loomEntry(opts.entry);
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      TMPDIR: process.env.TMPDIR,
      PORT: String(port),
      LOOM_ROLES: opts.roles.join(','),
      LOOM_INSTANCE_ID: opts.name,
      LOG_LEVEL: 'info',
      // Most integration tests exercise the collaboration path without accounts;
      // tests of permissions pass LOOM_DOC_ACCESS: 'members' in `env`.
      LOOM_DOC_ACCESS: 'open',
      ...(opts.natsUrl ? { NATS_URL: opts.natsUrl } : {}),
      ...(opts.databaseUrl ? { DATABASE_URL: opts.databaseUrl } : {}),
      ...(opts.dataDir ? { LOOM_DATA_DIR: opts.dataDir } : {}),
      // Every process of one test run signs and verifies with the same key,
      // so a token from one gateway works at another (opts.env may override).
      LOOM_JWT_KEYS: testJwtKeys(),
      ...launch.env,
      ...opts.env,
    };
    const previous = child?.output() ?? [];
    lines.push(...previous);
    child = spawnChild({
      command: process.execPath,
      args: launch.args,
      cwd: REPO_ROOT,
      env,
      name: `loom:${opts.name}`,
      maxLines: 5_000,
    });
    const ready = await child.waitForLine(READY, opts.readyTimeoutMs ?? 60_000);
    const m = PORT_IN_READY.exec(ready.input);
    if (!m?.[1]) throw new Error(`loom:${opts.name} ready line has no port: ${ready.input}`);
    port = Number(m[1]);
  };
  await start();

  const current = () => {
    if (child === undefined) throw new Error('not started');
    return child;
  };
  return {
    name: opts.name,
    get port() {
      return port;
    },
    get httpUrl() {
      return `http://127.0.0.1:${port}`;
    },
    get wsUrl() {
      return `ws://127.0.0.1:${port}`;
    },
    get pid() {
      return child?.pid;
    },
    output: () => [...lines, ...current().output()],
    grep: (pattern) => [...lines, ...current().output()].filter((l) => pattern.test(l)),
    start,
    stop: async () => {
      await current().stop(30_000);
    },
    kill: async () => {
      await current().kill();
    },
  };
}
