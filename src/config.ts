/**
 * The one reader of process.env. Parses and validates every setting against a
 * schema with explicit defaults (nothing set = the embedded setup), and returns
 * a frozen, typed object. Everything else receives its slice as a parameter.
 */
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';

export const ROLES = ['gateway', 'actors', 'inference', 'webhooks'] as const;
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

/** A comma list; blanks dropped. */
const listSchema = z.string().transform((raw) => raw.split(',').map((v) => v.trim()).filter((v) => v.length > 0));

/** Model names as the model server serves them: a comma list, each 1-128 bytes without whitespace. */
const modelListSchema = listSchema.refine(
  (models) => models.every((m) => Buffer.byteLength(m, 'utf8') <= 128 && !/[\u0000-\u0020\u007f-\u009f]/.test(m)),
  'each model name must be 1-128 bytes without whitespace or control characters',
);

const booleanSchema = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

/** One JWT signing key: `kid` goes into the token header; `secret` is the HMAC key. */
export interface JwtKeyConfig {
  readonly kid: string;
  readonly secret: string;
}

/** Shortest HMAC secret accepted: HS256 wants at least 256 bits of key. */
export const MIN_JWT_SECRET_CHARS = 32;

/**
 * `kid:secret,kid:secret`; the first key signs, all of them verify (rotation:
 * prepend the new key, drop the old one after the access-token TTL). Issues
 * never repeat a secret: the message names the entry by position and kid only.
 */
const jwtKeysSchema = z.string().transform((raw, ctx) => {
  const keys: JwtKeyConfig[] = [];
  const entries = raw.split(',').map((e) => e.trim()).filter((e) => e.length > 0);
  for (const [i, entry] of entries.entries()) {
    const colon = entry.indexOf(':');
    const kid = colon < 0 ? '' : entry.slice(0, colon);
    const secret = colon < 0 ? '' : entry.slice(colon + 1);
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(kid)) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `entry ${i + 1}: expected kid:secret with a kid of letters, digits, _ or - (1-64)` });
    } else if (secret.length < MIN_JWT_SECRET_CHARS) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `entry ${i + 1} (kid ${kid}): secret must be at least ${MIN_JWT_SECRET_CHARS} characters` });
    } else if (keys.some((k) => k.kid === kid)) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `entry ${i + 1}: kid ${kid} appears twice` });
    } else {
      keys.push({ kid, secret });
    }
  }
  if (entries.length === 0) ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'at least one kid:secret is required' });
  return keys;
});

/** Token bucket settings: `capacity` tokens, refilled at `refillPerSec`. */
export interface RateLimitConfig {
  readonly capacity: number;
  readonly refillPerSec: number;
}

/** USD per million tokens of one model, prompt and completion. */
export interface ModelPrice {
  readonly promptPerMillionUsd: number;
  readonly completionPerMillionUsd: number;
}

/** JSON `{"<model>": {"promptPerMillionUsd": n, "completionPerMillionUsd": n}, ...}`; unlisted models cost 0. */
const modelPricesSchema = z.string().transform((raw, ctx) => {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'must be JSON: {"<model>": {"promptPerMillionUsd": 0.5, "completionPerMillionUsd": 1.5}}' });
    return z.NEVER;
  }
  const price = z.object({ promptPerMillionUsd: z.number().nonnegative().finite(), completionPerMillionUsd: z.number().nonnegative().finite() }).strict();
  const parsed = z.record(z.string().min(1).max(128), price).safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: `${issue?.path.join('.') || 'prices'}: ${issue?.message ?? 'invalid'}` });
    return z.NEVER;
  }
  return parsed.data as Readonly<Record<string, ModelPrice>>;
});

/** Webhook retry delays in ms, a comma list: the n-th entry is the wait before attempt n+1. */
const retryScheduleSchema = listSchema.transform((raw, ctx) => {
  const delays = raw.map(Number);
  if (delays.length === 0 || delays.length > 30 || delays.some((d) => !Number.isInteger(d) || d < 0 || d > 7 * 86_400_000)) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'expected 1-30 comma-separated delays in ms, each 0-604800000' });
    return z.NEVER;
  }
  return delays;
});

/** 32 bytes, base64: the AES-256-GCM key that seals webhook secrets at rest. */
const webhookSecretKeySchema = z.string().transform((raw, ctx) => {
  const key = raw.trim();
  if (Buffer.from(key, 'base64').length !== 32) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'expected 32 bytes in base64 (openssl rand -base64 32)' });
    return z.NEVER;
  }
  return key;
});

/** Environment variables, their defaults and meaning. The README table mirrors this. */
export const ENV_SCHEMA = z
  .object({
    PORT: int(0, 65_535).default(1234),
    LOOM_HOST: z.string().min(1).default('127.0.0.1'),
    // One server or a cluster's seeds, comma-separated; credentials in any of them apply to all.
    NATS_URL: z
      .string()
      .refine(
        (raw) => {
          const urls = raw.split(',').map((u) => u.trim());
          return urls.length <= 16 && urls.every((u) => URL.canParse(u) && /^(nats|tls|wss?):\/\//.test(u));
        },
        'must be nats://, tls:// or ws(s):// URLs, comma-separated (at most 16)',
      )
      .optional(),
    // Replicas of every stream and KV bucket (3 on a 3-node cluster); reconciled at start.
    LOOM_NATS_REPLICAS: int(1, 5).default(1),
    DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL').optional(),
    LOOM_ROLES: rolesSchema.default('gateway,actors,inference,webhooks'),
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
    // Presence (awareness) bounds per document; the document total is also kept under a quarter of a NATS message.
    LOOM_PRESENCE_MAX_STATE_BYTES: int(64, 1024 * 1024).default(8 * 1024),
    LOOM_PRESENCE_MAX_DOC_BYTES: int(1_024, 64 * 1024 * 1024).default(256 * 1024),
    LOOM_PRESENCE_RATE_PER_S: int(1, 100_000).default(30),
    LOOM_PRESENCE_RATE_BURST: int(1, 100_000).default(90),
    LOOM_WS_MAX_FRAME_BYTES: int(1_024, 64 * 1024 * 1024).default(2 * 1024 * 1024),
    LOOM_WS_MAX_BUFFERED_BYTES: int(1_024, 1_073_741_824).default(8 * 1024 * 1024),
    LOOM_WS_HEARTBEAT_MS: int(100, 600_000).default(30_000),
    // Open sockets (/collab and /ws together) per gateway process; 0 = no limit.
    LOOM_WS_MAX_CONNECTIONS_PER_USER: int(0, 1_000_000).default(100),
    LOOM_WS_MAX_CONNECTIONS_PER_IP: int(0, 1_000_000).default(500),
    LOOM_REQUEST_TIMEOUT_MS: int(100, 600_000).default(5_000),
    LOOM_ACTIVATION_DEADLINE_MS: int(500, 600_000).default(15_000),
    // Accounts and the public API (issue 4, part A).
    LOOM_JWT_KEYS: jwtKeysSchema.optional(),
    LOOM_JWT_ISSUER: z.string().min(1).max(256).default('loom'),
    LOOM_JWT_AUDIENCE: z.string().min(1).max(256).default('loom-api'),
    LOOM_ACCESS_TOKEN_TTL_S: int(10, 86_400).default(900),
    LOOM_REFRESH_TOKEN_TTL_S: int(60, 31_536_000).default(604_800),
    LOOM_ALLOWED_ORIGINS: listSchema.default(''),
    // Who may open documents: members by role (needs a token), or anyone as an editor.
    LOOM_DOC_ACCESS: z.enum(['members', 'open']).default('members'),
    LOOM_LOCAL_FAST_PATH: booleanSchema.default('true'),
    LOOM_TRUST_PROXY: booleanSchema.default('false'),
    LOOM_HTTP_MAX_BODY_BYTES: int(1_024, 1_073_741_824).default(1024 * 1024),
    LOOM_RATE_LOGIN_BURST: int(1, 1_000_000).default(10),
    LOOM_RATE_LOGIN_PER_MIN: int(1, 1_000_000).default(10),
    LOOM_RATE_API_BURST: int(1, 1_000_000).default(300),
    LOOM_RATE_API_PER_S: int(1, 1_000_000).default(50),
    LOOM_RATE_WS_BURST: int(1, 1_000_000).default(500),
    LOOM_RATE_WS_PER_S: int(1, 1_000_000).default(200),
    // Per-user quotas at the HTTP edge (src/limits/usage-quotas.ts); 0 turns one off.
    LOOM_QUOTA_CONCURRENT_JOBS: int(0, 1_000_000).default(20),
    LOOM_QUOTA_TOKENS_PER_DAY: int(0, 1_000_000_000_000).default(2_000_000),
    // Object storage and uploads (issue 3, artifacts and uploads).
    LOOM_S3_ENDPOINT: z.string().url().regex(/^https?:\/\/[^/]+\/?$/, 'must be http(s)://host[:port]').optional(),
    LOOM_S3_ACCESS_KEY: z.string().min(1).optional(),
    LOOM_S3_SECRET_KEY: z.string().min(1).optional(),
    LOOM_S3_BUCKET: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be a valid S3 bucket name').default('loom'),
    LOOM_S3_REGION: z.string().regex(/^[a-z0-9-]{1,32}$/).default('us-east-1'),
    LOOM_UPLOAD_MAX_BYTES: int(1, 5 * 1024 ** 4).default(100 * 1024 * 1024),
    LOOM_URL_SIGNING_KEY: z.string().min(32, 'must be at least 32 characters').optional(),
    LOOM_PUBLIC_URL: z.string().url().regex(/^https?:\/\//, 'must be an http(s) URL').optional(),
    // Inference workers (issue 3): the OpenAI SDK's own variable names for the model server.
    OPENAI_BASE_URL: z.string().url().regex(/^https?:\/\//, 'must be an http(s) URL').default('http://127.0.0.1:8000/v1'),
    OPENAI_API_KEY: z.string().min(1).default('loom-local-no-key'),
    LOOM_INFERENCE_MODELS: modelListSchema.default(''),
    LOOM_INFERENCE_CONCURRENCY: int(1, 4_096).default(8),
    LOOM_INFERENCE_MAX_DELIVER: int(1, 100).default(5),
    LOOM_INFERENCE_ACK_WAIT_MS: int(500, 3_600_000).default(30_000),
    LOOM_INFERENCE_CALL_TIMEOUT_MS: int(1_000, 3_600_000).default(600_000),
    // Jobs (issue 3): the job engine's policy, default model and price table.
    LOOM_DEFAULT_MODEL: z.string().min(1).max(128).regex(/^\S+$/, 'must not contain whitespace').default('loom-default'),
    LOOM_JOB_MAX_PARALLEL_STEPS: int(1, 1_000).default(4),
    LOOM_JOB_STEP_MAX_ATTEMPTS: int(1, 100).default(4),
    LOOM_JOB_STEP_TIMEOUT_MS: int(100, 86_400_000).default(300_000),
    LOOM_JOB_RETRY_BASE_MS: int(0, 3_600_000).default(1_000),
    LOOM_JOB_RETRY_MAX_MS: int(0, 86_400_000).default(60_000),
    LOOM_JOB_MAX_INPUT_BYTES: int(64, 16 * 1024 * 1024).default(256 * 1024),
    LOOM_JOB_SUPERVISOR_INTERVAL_MS: int(100, 3_600_000).default(5_000),
    // Workers' claims, heartbeats and completions one actor host forwards to job actors at once (src/activities/activity-service.ts).
    LOOM_ACTIVITY_MAX_IN_FLIGHT: int(1, 100_000).default(256),
    // Of those, claims at most (default: half, rounded up): the rest stays for heartbeats and completions.
    LOOM_ACTIVITY_MAX_CLAIMS_IN_FLIGHT: int(1, 100_000).optional(),
    LOOM_JOB_STUCK_AFTER_MS: int(100, 604_800_000).default(1_800_000),
    // Agent sessions (issue 7): the model's answer deadline and tool calls run at once per step.
    LOOM_AGENT_MODEL_CALL_TIMEOUT_MS: int(1_000, 3_600_000).default(300_000),
    LOOM_AGENT_MAX_PARALLEL_TOOLS: int(1, 64).default(4),
    // Agent tools (src/agents): timeouts, result caps, service-tool discovery.
    LOOM_AGENT_TOOL_TIMEOUT_MS: int(100, 3_600_000).default(30_000),
    LOOM_AGENT_JOB_TOOL_TIMEOUT_MS: int(1_000, 3_600_000).default(120_000),
    LOOM_AGENT_SERVICE_TOOL_TIMEOUT_MS: int(100, 600_000).default(30_000),
    LOOM_AGENT_TOOL_MAX_RESULT_BYTES: int(1_024, 4 * 1024 * 1024).default(32 * 1024),
    LOOM_AGENT_UPLOAD_READ_MAX_BYTES: int(1_024, 16 * 1024 * 1024).default(64 * 1024),
    LOOM_AGENT_DOC_EDIT_MAX_CHARS: int(1, 1_000_000).default(20_000),
    LOOM_AGENT_SERVICE_TOOLS_CACHE_MS: int(0, 3_600_000).default(10_000),
    LOOM_AGENT_SERVICE_DISCOVERY_WAIT_MS: int(50, 60_000).default(1_000),
    LOOM_MODEL_PRICES: modelPricesSchema.default('{}'),
    // Data protection (issue 12): retention ages in days, 0 = keep forever; account export limits.
    LOOM_RETENTION_JOB_LOG_DAYS: int(0, 36_500).default(0),
    LOOM_RETENTION_ARTIFACT_DAYS: int(0, 36_500).default(0),
    LOOM_RETENTION_AUDIT_DAYS: int(0, 36_500).default(0),
    LOOM_RETENTION_INTERVAL_MS: int(1_000, 86_400_000).default(3_600_000),
    LOOM_RATE_EXPORT_BURST: int(1, 1_000).default(2),
    LOOM_RATE_EXPORT_PER_HOUR: int(1, 1_000_000).default(6),
    // Observability (issue 13): who may read /metrics, and OpenTelemetry traces (off without an endpoint).
    LOOM_METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').max(4_096).optional(),
    OTEL_EXPORTER_OTLP_ENDPOINT: z.string().url().regex(/^https?:\/\//, 'must be an http(s) URL').optional(),
    OTEL_SERVICE_NAME: z.string().min(1).max(128).default('loom'),
    LOOM_TRACE_SAMPLE_RATIO: z.coerce.number().min(0).max(1).default(1),
    // Webhooks (issue 9): delivery safety, timeouts, the retry schedule and the dispatcher's scale.
    LOOM_WEBHOOK_ALLOW_HTTP: booleanSchema.default('false'),
    LOOM_WEBHOOK_ALLOW_PRIVATE: booleanSchema.default('false'),
    LOOM_WEBHOOK_TIMEOUT_MS: int(100, 120_000).default(15_000),
    LOOM_WEBHOOK_RETRY_SCHEDULE_MS: retryScheduleSchema.default('5000,60000,300000,1800000,7200000,18000000,28800000,28800000'),
    LOOM_WEBHOOK_ROTATION_OVERLAP_MS: int(0, 30 * 86_400_000).default(86_400_000),
    LOOM_WEBHOOK_SECRET_KEY: webhookSecretKeySchema.optional(),
    LOOM_WEBHOOK_CONCURRENCY: int(1, 10_000).default(64),
    LOOM_WEBHOOK_LEASE_TTL_MS: int(1_000, 3_600_000).default(30_000),
    LOOM_WEBHOOK_POLL_MS: int(10, 60_000).default(1_000),
    LOOM_OUTBOUND_EVENTS_REPLICAS: int(1, 5).optional(),
    // Outbound event sources (issue 9): one doc.updated per document per this window.
    LOOM_WEBHOOK_DOC_DEBOUNCE_MS: int(0, 3_600_000).default(5_000),
  })
  .strict();

export interface Config {
  readonly instanceId: string;
  readonly roles: readonly Role[];
  readonly logLevel: z.infer<typeof ENV_SCHEMA>['LOG_LEVEL'];
  readonly dataDir: string;
  readonly http: {
    readonly host: string;
    readonly port: number;
    /** Largest request body accepted (413 above). */
    readonly maxBodyBytes: number;
    /** Take the client IP from the last X-Forwarded-For entry (one trusted proxy in front). */
    readonly trustProxy: boolean;
  };
  /** `url` absent means: start an embedded nats-server child under dataDir. `replicas`: of every stream and bucket. */
  readonly nats: { readonly url: string | undefined; readonly serverBinary: string; readonly replicas: number };
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
    /** Presence bounds (see actors/document/presence.ts). */
    readonly presence: {
      /** Largest JSON state of one client. */
      readonly maxStateBytes: number;
      /** All presence of one document. */
      readonly maxDocumentBytes: number;
      /** Presence changes per connection per second, and burst (echoes of others' states not counted). */
      readonly ratePerSec: number;
      readonly rateBurst: number;
    };
  };
  readonly gateway: {
    readonly maxFrameBytes: number;
    readonly maxBufferedBytes: number;
    readonly heartbeatMs: number;
    readonly requestTimeoutMs: number;
    readonly activationDeadlineMs: number;
    /** Open sockets per user and per client address on one gateway process (0 = no limit). */
    readonly maxConnectionsPerUser: number;
    readonly maxConnectionsPerIp: number;
  };
  readonly auth: {
    /** Signing keys, current first; absent means a development key generated under dataDir. */
    readonly jwtKeys: readonly JwtKeyConfig[] | undefined;
    readonly jwtIssuer: string;
    readonly jwtAudience: string;
    readonly accessTokenTtlS: number;
    readonly refreshTokenTtlS: number;
    /**
     * Browser origins allowed to open WebSockets (exact `scheme://host[:port]`,
     * or `*`). Empty: only same-origin browsers and clients sending no Origin.
     */
    readonly allowedOrigins: readonly string[];
  };
  /** Blob storage: S3 when `s3` is set, else the filesystem under dataDir/objects. */
  readonly objects: {
    readonly s3:
      | {
          readonly endpoint: string;
          readonly accessKey: string;
          readonly secretKey: string;
          readonly bucket: string;
          readonly region: string;
        }
      | undefined;
    /** Largest upload accepted by POST /v1/uploads, in bytes. */
    readonly uploadMaxBytes: number;
    /** Key for signed gateway URLs (filesystem store); absent = generated and kept under dataDir. */
    readonly urlSigningKey: string | undefined;
    /** Origin clients reach the gateway at, for gateway URLs; absent = http://127.0.0.1:<bound port>. */
    readonly publicUrl: string | undefined;
  };
  /** The `inference` role: which models this node serves and how it calls its model server. */
  readonly inference: {
    /** OPENAI_BASE_URL, e.g. vLLM's `http://127.0.0.1:8000/v1`. */
    readonly baseUrl: string;
    /** OPENAI_API_KEY; a placeholder for local servers that check none. */
    readonly apiKey: string;
    readonly models: readonly string[];
    /** Model calls in flight on this node, all its models together. */
    readonly concurrency: number;
    /** Deliveries that call the model before a request is dead-lettered. */
    readonly maxDeliver: number;
    /** JetStream AckWait; in-progress acks go out every third of it. */
    readonly ackWaitMs: number;
    /** Upper bound of one model call. */
    readonly callTimeoutMs: number;
  };
  /** Agent sessions (actors role); their default model is jobs.defaultModel, their supervisor runs every jobs.supervisorIntervalMs. */
  readonly agents: {
    /** A model call with no answer by then fails the turn (`timeout`). */
    readonly modelCallTimeoutMs: number;
    /** Tool calls of one step running at once. */
    readonly maxParallelTools: number;
  };
  /** The tools agent sessions call (src/agents; the field names of its AgentToolLimits). */
  readonly agentTools: {
    /** Timeout of doc_read, doc_search, doc_edit and upload_read. */
    readonly builtinTimeoutMs: number;
    /** Timeout of job_start, which waits for the job's output. */
    readonly jobTimeoutMs: number;
    /** Timeout of a service tool that announces none. */
    readonly serviceTimeoutMs: number;
    /** Largest result a model sees, in UTF-8 bytes; longer ones are cut with a note. */
    readonly maxResultBytes: number;
    readonly uploadReadMaxBytes: number;
    readonly docEditMaxChars: number;
    /** How long a service-tool discovery is reused: the most a list of service tools may be out of date. */
    readonly serviceCacheMs: number;
    /** How long a discovery waits for services' INFO replies. */
    readonly serviceDiscoveryWaitMs: number;
  };
  /** The job engine (actors role) and the jobs API (gateway role). */
  readonly jobs: {
    /** Model of jobs that name none. */
    readonly defaultModel: string;
    /** Steps of one job running at once (approvals and tools not counted). */
    readonly maxParallelSteps: number;
    /** Attempts per step before the job fails (and is dead-lettered). */
    readonly stepMaxAttempts: number;
    /** Longest one attempt of a step may take before it counts as failed. */
    readonly stepTimeoutMs: number;
    /** Backoff before retry n is between half and all of min(max, base * 2^(n-1)). */
    readonly retryBaseMs: number;
    readonly retryMaxMs: number;
    /** Largest job input, as JSON bytes. */
    readonly maxInputBytes: number;
    /** How often each actor host looks for jobs whose host died. */
    readonly supervisorIntervalMs: number;
    /** Worker messages (claims, heartbeats, completions) one actor host forwards to job actors at once; past it they are refused `mailbox-full`. */
    readonly activityMaxInFlight: number;
    /** Of those, claims at most (1..activityMaxInFlight), so claims never starve heartbeats and completions. */
    readonly activityMaxClaimsInFlight: number;
    /** A pending or running job with no new event this long is flagged stuck (a `job-stuck` event). */
    readonly stuckAfterMs: number;
    /** USD per million tokens, by model. */
    readonly modelPrices: Readonly<Record<string, ModelPrice>>;
  };
  /**
   * Who may open a document over WebSocket and read it with GET /v1/docs/:id:
   * `members` (its owner, editors and viewers, with a token) or `open`
   * (anyone, as an editor: local development and tests of the collaboration
   * path). The documents API itself always requires credentials.
   */
  readonly docAccess: 'members' | 'open';
  /**
   * With the gateway and actors roles in one process: commands from its
   * gateway reach its actors, and their events its sockets, without NATS
   * (src/host/local-actors.ts). Off: everything goes over NATS.
   */
  readonly localFastPath: boolean;
  /** Data protection: the retention purge (actors role) and account export limits (gateway role). */
  readonly privacy: {
    /** Ages after which the purge removes data; 0 keeps it forever. */
    readonly retention: {
      /** Finished jobs: their log, projection rows and artifacts. */
      readonly jobLogDays: number;
      /** Artifacts of finished jobs (the job itself stays). */
      readonly artifactDays: number;
      readonly auditDays: number;
      /** How often one actors process (holding the purge lease) runs the purge. */
      readonly intervalMs: number;
    };
    /** Per user, on GET /v1/account/export. */
    readonly exportRateLimit: RateLimitConfig;
  };
  /** GET /metrics and OpenTelemetry traces (src/metrics/, src/tracing/). */
  readonly observability: {
    /** Bearer token GET /metrics requires; undefined = open to whoever reaches the port. */
    readonly metricsToken: string | undefined;
    readonly tracing: {
      /** OTLP/HTTP base URL; spans go to `<endpoint>/v1/traces`. Undefined = tracing off. */
      readonly otlpEndpoint: string | undefined;
      readonly serviceName: string;
      /** Share of new traces recorded (a sampled incoming traceparent is always followed). */
      readonly sampleRatio: number;
    };
  };
  /** Token buckets. `login` and `api` are shared by all gateways (NATS KV, src/limits/); `wsMessages` is per connection. */
  readonly rateLimits: {
    /** Per IP and per account on login and registration. */
    readonly login: RateLimitConfig;
    /** Per IP and per principal on every /v1 request. */
    readonly api: RateLimitConfig;
    /** Per WebSocket connection, on every message. */
    readonly wsMessages: RateLimitConfig;
  };
  /** Per-user quotas on work started over HTTP; 0 turns one off. */
  readonly quotas: {
    /** Jobs pending or running at once. */
    readonly maxConcurrentJobs: number;
    /** Model tokens per rolling 24 hours (jobs and agent sessions created in it). */
    readonly maxTokensPerDay: number;
  };
  /** Webhook endpoints and their dispatcher (src/webhooks/). */
  readonly webhooks: {
    /** Accept `http://` endpoint URLs (otherwise `https://` only). */
    readonly allowHttp: boolean;
    /** Deliver to loopback, private, link-local and metadata addresses (tests, local use). */
    readonly allowPrivate: boolean;
    /** One attempt: connect, send, and a 2xx status within this. */
    readonly timeoutMs: number;
    /** Wait before each retry, in ms; after the last one the delivery is dead-lettered. */
    readonly retryScheduleMs: readonly number[];
    /** How long the previous secret still signs after a rotation. */
    readonly rotationOverlapMs: number;
    /** AES-256-GCM key (32 bytes, base64) sealing secrets at rest; absent: stored unsealed (a warning at start). */
    readonly secretKey: string | undefined;
    /** Endpoints one dispatcher process sends to at once. */
    readonly concurrency: number;
    /** How long a dispatcher holds an endpoint without renewing (a dead one's endpoints move on after this). */
    readonly leaseTtlMs: number;
    /** How often a dispatcher looks for due deliveries besides being woken by new ones. */
    readonly pollIntervalMs: number;
    /** Replicas of the outbound-events stream (3 on a NATS cluster). */
    readonly streamReplicas: number;
  };
  /** The relays that record outbound events (src/outbound-events/), run by actors processes. */
  readonly outboundEvents: {
    /** A document's updates within this window after its first make one `doc.updated`. */
    readonly docDebounceMs: number;
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
  if (e.NATS_URL === undefined && e.LOOM_NATS_REPLICAS > 1) {
    throw new ConfigError(['LOOM_NATS_REPLICAS: more than 1 needs a NATS cluster in NATS_URL (the embedded server is a single node)']);
  }
  if (e.LOOM_ACTIVITY_MAX_CLAIMS_IN_FLIGHT !== undefined && e.LOOM_ACTIVITY_MAX_CLAIMS_IN_FLIGHT > e.LOOM_ACTIVITY_MAX_IN_FLIGHT) {
    throw new ConfigError([`LOOM_ACTIVITY_MAX_CLAIMS_IN_FLIGHT: must not be more than LOOM_ACTIVITY_MAX_IN_FLIGHT (${e.LOOM_ACTIVITY_MAX_IN_FLIGHT})`]);
  }
  if (e.LOOM_S3_ENDPOINT !== undefined && (e.LOOM_S3_ACCESS_KEY === undefined || e.LOOM_S3_SECRET_KEY === undefined)) {
    throw new ConfigError(['LOOM_S3_ACCESS_KEY and LOOM_S3_SECRET_KEY: both are required with LOOM_S3_ENDPOINT']);
  }
  const config: Config = {
    instanceId: e.LOOM_INSTANCE_ID ?? `${os.hostname().replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 40)}-${process.pid}`,
    roles: e.LOOM_ROLES,
    logLevel: e.LOG_LEVEL,
    dataDir: path.resolve(e.LOOM_DATA_DIR),
    http: { host: e.LOOM_HOST, port: e.PORT, maxBodyBytes: e.LOOM_HTTP_MAX_BODY_BYTES, trustProxy: e.LOOM_TRUST_PROXY },
    nats: { url: e.NATS_URL, serverBinary: e.LOOM_NATS_SERVER_BIN, replicas: e.LOOM_NATS_REPLICAS },
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
      presence: {
        maxStateBytes: e.LOOM_PRESENCE_MAX_STATE_BYTES,
        maxDocumentBytes: e.LOOM_PRESENCE_MAX_DOC_BYTES,
        ratePerSec: e.LOOM_PRESENCE_RATE_PER_S,
        rateBurst: e.LOOM_PRESENCE_RATE_BURST,
      },
    },
    gateway: {
      maxFrameBytes: e.LOOM_WS_MAX_FRAME_BYTES,
      maxBufferedBytes: e.LOOM_WS_MAX_BUFFERED_BYTES,
      heartbeatMs: e.LOOM_WS_HEARTBEAT_MS,
      requestTimeoutMs: e.LOOM_REQUEST_TIMEOUT_MS,
      activationDeadlineMs: e.LOOM_ACTIVATION_DEADLINE_MS,
      maxConnectionsPerUser: e.LOOM_WS_MAX_CONNECTIONS_PER_USER,
      maxConnectionsPerIp: e.LOOM_WS_MAX_CONNECTIONS_PER_IP,
    },
    auth: {
      jwtKeys: e.LOOM_JWT_KEYS,
      jwtIssuer: e.LOOM_JWT_ISSUER,
      jwtAudience: e.LOOM_JWT_AUDIENCE,
      accessTokenTtlS: e.LOOM_ACCESS_TOKEN_TTL_S,
      refreshTokenTtlS: e.LOOM_REFRESH_TOKEN_TTL_S,
      allowedOrigins: e.LOOM_ALLOWED_ORIGINS,
    },
    objects: {
      s3:
        e.LOOM_S3_ENDPOINT === undefined
          ? undefined
          : {
              endpoint: e.LOOM_S3_ENDPOINT,
              accessKey: e.LOOM_S3_ACCESS_KEY ?? '',
              secretKey: e.LOOM_S3_SECRET_KEY ?? '',
              bucket: e.LOOM_S3_BUCKET,
              region: e.LOOM_S3_REGION,
            },
      uploadMaxBytes: e.LOOM_UPLOAD_MAX_BYTES,
      urlSigningKey: e.LOOM_URL_SIGNING_KEY,
      publicUrl: e.LOOM_PUBLIC_URL?.replace(/\/+$/, ''),
    },
    inference: {
      baseUrl: e.OPENAI_BASE_URL,
      apiKey: e.OPENAI_API_KEY,
      // Unset: serve the default model, so the embedded setup runs jobs with only OPENAI_BASE_URL set.
      models: [...new Set(e.LOOM_INFERENCE_MODELS.length > 0 ? e.LOOM_INFERENCE_MODELS : [e.LOOM_DEFAULT_MODEL])],
      concurrency: e.LOOM_INFERENCE_CONCURRENCY,
      maxDeliver: e.LOOM_INFERENCE_MAX_DELIVER,
      ackWaitMs: e.LOOM_INFERENCE_ACK_WAIT_MS,
      callTimeoutMs: e.LOOM_INFERENCE_CALL_TIMEOUT_MS,
    },
    agents: {
      modelCallTimeoutMs: e.LOOM_AGENT_MODEL_CALL_TIMEOUT_MS,
      maxParallelTools: e.LOOM_AGENT_MAX_PARALLEL_TOOLS,
    },
    agentTools: {
      builtinTimeoutMs: e.LOOM_AGENT_TOOL_TIMEOUT_MS,
      jobTimeoutMs: e.LOOM_AGENT_JOB_TOOL_TIMEOUT_MS,
      serviceTimeoutMs: e.LOOM_AGENT_SERVICE_TOOL_TIMEOUT_MS,
      maxResultBytes: e.LOOM_AGENT_TOOL_MAX_RESULT_BYTES,
      uploadReadMaxBytes: e.LOOM_AGENT_UPLOAD_READ_MAX_BYTES,
      docEditMaxChars: e.LOOM_AGENT_DOC_EDIT_MAX_CHARS,
      serviceCacheMs: e.LOOM_AGENT_SERVICE_TOOLS_CACHE_MS,
      serviceDiscoveryWaitMs: e.LOOM_AGENT_SERVICE_DISCOVERY_WAIT_MS,
    },
    jobs: {
      defaultModel: e.LOOM_DEFAULT_MODEL,
      maxParallelSteps: e.LOOM_JOB_MAX_PARALLEL_STEPS,
      stepMaxAttempts: e.LOOM_JOB_STEP_MAX_ATTEMPTS,
      stepTimeoutMs: e.LOOM_JOB_STEP_TIMEOUT_MS,
      retryBaseMs: e.LOOM_JOB_RETRY_BASE_MS,
      retryMaxMs: e.LOOM_JOB_RETRY_MAX_MS,
      maxInputBytes: e.LOOM_JOB_MAX_INPUT_BYTES,
      supervisorIntervalMs: e.LOOM_JOB_SUPERVISOR_INTERVAL_MS,
      activityMaxInFlight: e.LOOM_ACTIVITY_MAX_IN_FLIGHT,
      activityMaxClaimsInFlight: e.LOOM_ACTIVITY_MAX_CLAIMS_IN_FLIGHT ?? Math.ceil(e.LOOM_ACTIVITY_MAX_IN_FLIGHT / 2),
      stuckAfterMs: e.LOOM_JOB_STUCK_AFTER_MS,
      modelPrices: e.LOOM_MODEL_PRICES,
    },
    docAccess: e.LOOM_DOC_ACCESS,
    localFastPath: e.LOOM_LOCAL_FAST_PATH,
    privacy: {
      retention: {
        jobLogDays: e.LOOM_RETENTION_JOB_LOG_DAYS,
        artifactDays: e.LOOM_RETENTION_ARTIFACT_DAYS,
        auditDays: e.LOOM_RETENTION_AUDIT_DAYS,
        intervalMs: e.LOOM_RETENTION_INTERVAL_MS,
      },
      exportRateLimit: { capacity: e.LOOM_RATE_EXPORT_BURST, refillPerSec: e.LOOM_RATE_EXPORT_PER_HOUR / 3_600 },
    },
    observability: {
      metricsToken: e.LOOM_METRICS_TOKEN,
      tracing: { otlpEndpoint: e.OTEL_EXPORTER_OTLP_ENDPOINT, serviceName: e.OTEL_SERVICE_NAME, sampleRatio: e.LOOM_TRACE_SAMPLE_RATIO },
    },
    rateLimits: {
      login: { capacity: e.LOOM_RATE_LOGIN_BURST, refillPerSec: e.LOOM_RATE_LOGIN_PER_MIN / 60 },
      api: { capacity: e.LOOM_RATE_API_BURST, refillPerSec: e.LOOM_RATE_API_PER_S },
      wsMessages: { capacity: e.LOOM_RATE_WS_BURST, refillPerSec: e.LOOM_RATE_WS_PER_S },
    },
    quotas: { maxConcurrentJobs: e.LOOM_QUOTA_CONCURRENT_JOBS, maxTokensPerDay: e.LOOM_QUOTA_TOKENS_PER_DAY },
    webhooks: {
      allowHttp: e.LOOM_WEBHOOK_ALLOW_HTTP,
      allowPrivate: e.LOOM_WEBHOOK_ALLOW_PRIVATE,
      timeoutMs: e.LOOM_WEBHOOK_TIMEOUT_MS,
      retryScheduleMs: e.LOOM_WEBHOOK_RETRY_SCHEDULE_MS,
      rotationOverlapMs: e.LOOM_WEBHOOK_ROTATION_OVERLAP_MS,
      secretKey: e.LOOM_WEBHOOK_SECRET_KEY,
      concurrency: e.LOOM_WEBHOOK_CONCURRENCY,
      leaseTtlMs: e.LOOM_WEBHOOK_LEASE_TTL_MS,
      pollIntervalMs: e.LOOM_WEBHOOK_POLL_MS,
      streamReplicas: e.LOOM_OUTBOUND_EVENTS_REPLICAS ?? e.LOOM_NATS_REPLICAS,
    },
    outboundEvents: { docDebounceMs: e.LOOM_WEBHOOK_DOC_DEBOUNCE_MS },
  };
  return deepFreeze(config);
}

/** The effective config with secrets (credentials in URLs, JWT keys) redacted, for the start-up log line. */
export function redactedConfig(config: Config): Config {
  const redact = (url: string | undefined) => (url === undefined ? url : url.replace(/\/\/([^@/,]*)@/g, '//***@'));
  const jwtKeys = config.auth.jwtKeys?.map((k) => ({ kid: k.kid, secret: '[redacted]' }));
  return {
    ...config,
    nats: { ...config.nats, url: redact(config.nats.url) },
    database: { url: redact(config.database.url) },
    auth: { ...config.auth, jwtKeys },
    objects: {
      ...config.objects,
      s3: config.objects.s3 && { ...config.objects.s3, secretKey: '[redacted]' },
      urlSigningKey: config.objects.urlSigningKey && '[redacted]',
    },
    inference: { ...config.inference, baseUrl: redact(config.inference.baseUrl) ?? '', apiKey: '[redacted]' },
    observability: { ...config.observability, metricsToken: config.observability.metricsToken && '[redacted]' },
    webhooks: { ...config.webhooks, secretKey: config.webhooks.secretKey && '[redacted]' },
  };
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
