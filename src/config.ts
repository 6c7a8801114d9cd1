/**
 * The one reader of process.env. Parses and validates every setting against a
 * schema with explicit defaults (nothing set = the embedded setup), and returns
 * a frozen, typed object. Everything else receives its slice as a parameter.
 */
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';

export const ROLES = ['gateway', 'actors'] as const;
export type Role = (typeof ROLES)[number];

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

const rolesSchema = z
  .string()
  .transform((raw, ctx) => {
    const names = raw.split(',').map((r) => r.trim()).filter((r) => r.length > 0);
    const unknown = names.filter((r) => !(ROLES as readonly string[]).includes(r));
    if (unknown.length > 0) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `unknown role(s) ${unknown.join(', ')}; allowed: ${ROLES.join(', ')}` });
      return z.NEVER;
    }
    if (names.length === 0) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'at least one role is required' });
      return z.NEVER;
    }
    return [...new Set(names)] as Role[];
  });

/** Environment variables, their defaults and meaning. The README table mirrors this. */
export const ENV_SCHEMA = z
  .object({
    PORT: int(0, 65_535).default(1234),
    LOOM_HOST: z.string().min(1).default('127.0.0.1'),
    NATS_URL: z.string().url().optional(),
    DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL').optional(),
    LOOM_ROLES: rolesSchema.default('gateway,actors'),
    LOOM_DATA_DIR: z.string().min(1).default('.loom-data'),
    LOOM_NATS_SERVER_BIN: z.string().min(1).default('nats-server'),
    LOOM_INSTANCE_ID: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'letters, digits, _ and - only').optional(),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    LOOM_LEASE_TTL_MS: int(1_000, 600_000).default(4_000),
    LOOM_ACTOR_IDLE_MS: int(100, 86_400_000).default(60_000),
    LOOM_MAILBOX_MAX_MESSAGES: int(1, 1_000_000).default(1_000),
    LOOM_MAILBOX_MAX_BYTES: int(1_024, 1_073_741_824).default(16 * 1024 * 1024),
    LOOM_DOC_MAX_UPDATE_BYTES: int(64, 64 * 1024 * 1024).default(1024 * 1024),
    LOOM_DOC_MAX_BYTES: int(1_024, 1_073_741_824).default(32 * 1024 * 1024),
    LOOM_DOC_SNAPSHOT_EVERY_UPDATES: int(1, 1_000_000).default(500),
    LOOM_DOC_SNAPSHOT_EVERY_BYTES: int(1_024, 1_073_741_824).default(4 * 1024 * 1024),
    LOOM_WS_MAX_FRAME_BYTES: int(1_024, 64 * 1024 * 1024).default(2 * 1024 * 1024),
    LOOM_WS_MAX_BUFFERED_BYTES: int(1_024, 1_073_741_824).default(8 * 1024 * 1024),
    LOOM_WS_HEARTBEAT_MS: int(100, 600_000).default(30_000),
    LOOM_REQUEST_TIMEOUT_MS: int(100, 600_000).default(5_000),
    LOOM_ACTIVATION_DEADLINE_MS: int(500, 600_000).default(15_000),
  })
  .strict();

export interface Config {
  readonly instanceId: string;
  readonly roles: readonly Role[];
  readonly logLevel: z.infer<typeof ENV_SCHEMA>['LOG_LEVEL'];
  readonly dataDir: string;
  readonly http: { readonly host: string; readonly port: number };
  /** `url` absent means: start an embedded nats-server child under dataDir. */
  readonly nats: { readonly url: string | undefined; readonly serverBinary: string };
  /** `url` absent means: embedded PGlite under dataDir. */
  readonly database: { readonly url: string | undefined };
  readonly actors: {
    readonly leaseTtlMs: number;
    readonly idleMs: number;
    readonly mailboxMaxMessages: number;
    readonly mailboxMaxBytes: number;
  };
  readonly documents: {
    readonly maxUpdateBytes: number;
    readonly maxDocumentBytes: number;
    readonly snapshotEveryUpdates: number;
    readonly snapshotEveryBytes: number;
  };
  readonly gateway: {
    readonly maxFrameBytes: number;
    readonly maxBufferedBytes: number;
    readonly heartbeatMs: number;
    readonly requestTimeoutMs: number;
    readonly activationDeadlineMs: number;
  };
}

/** Thrown when the environment does not validate; `problems` lists every issue. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly code = 'invalid-config';
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
  }
}

/** Only the variables the schema knows are read; anything else in env is ignored. */
function pickKnown(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of Object.keys(ENV_SCHEMA.shape)) {
    const value = env[key];
    if (value !== undefined && value !== '') out[key] = value;
  }
  return out;
}

/**
 * Parses configuration from an environment (default: process.env).
 * @throws ConfigError listing every invalid variable.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = ENV_SCHEMA.safeParse(pickKnown(env));
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join('.') || '(env)'}: ${i.message}`));
  }
  const e = parsed.data;
  const config: Config = {
    instanceId: e.LOOM_INSTANCE_ID ?? `${os.hostname().replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 40)}-${process.pid}`,
    roles: e.LOOM_ROLES,
    logLevel: e.LOG_LEVEL,
    dataDir: path.resolve(e.LOOM_DATA_DIR),
    http: { host: e.LOOM_HOST, port: e.PORT },
    nats: { url: e.NATS_URL, serverBinary: e.LOOM_NATS_SERVER_BIN },
    database: { url: e.DATABASE_URL },
    actors: {
      leaseTtlMs: e.LOOM_LEASE_TTL_MS,
      idleMs: e.LOOM_ACTOR_IDLE_MS,
      mailboxMaxMessages: e.LOOM_MAILBOX_MAX_MESSAGES,
      mailboxMaxBytes: e.LOOM_MAILBOX_MAX_BYTES,
    },
    documents: {
      maxUpdateBytes: e.LOOM_DOC_MAX_UPDATE_BYTES,
      maxDocumentBytes: e.LOOM_DOC_MAX_BYTES,
      snapshotEveryUpdates: e.LOOM_DOC_SNAPSHOT_EVERY_UPDATES,
      snapshotEveryBytes: e.LOOM_DOC_SNAPSHOT_EVERY_BYTES,
    },
    gateway: {
      maxFrameBytes: e.LOOM_WS_MAX_FRAME_BYTES,
      maxBufferedBytes: e.LOOM_WS_MAX_BUFFERED_BYTES,
      heartbeatMs: e.LOOM_WS_HEARTBEAT_MS,
      requestTimeoutMs: e.LOOM_REQUEST_TIMEOUT_MS,
      activationDeadlineMs: e.LOOM_ACTIVATION_DEADLINE_MS,
    },
  };
  return deepFreeze(config);
}

/** The effective config with secrets (credentials in URLs) redacted, for the start-up log line. */
export function redactedConfig(config: Config): Config {
  const redact = (url: string | undefined) => (url === undefined ? url : url.replace(/\/\/([^@/]*)@/, '//***@'));
  return { ...config, nats: { ...config.nats, url: redact(config.nats.url) }, database: { url: redact(config.database.url) } };
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
