/**
 * A Loom cluster for job tests: real nats-server and PostgreSQL, the fake
 * OpenAI-compatible model server in the test process, and Loom processes
 * (actor hosts, gateways, inference workers, or one process with every
 * role) sharing one data folder (the filesystem object store, so artifacts
 * written by hosts download through gateways). A registered user drives the
 * HTTP API like a client; `nc` is the test's own NATS connection, like an
 * internal service's.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { Role } from '../config.ts';
import {
  startFakeModelServer,
  startLoomProcess,
  startNatsServer,
  startPostgresServer,
  waitFor,
  type FakeChatRequest,
  type FakeModelServer,
  type LoomProcess,
  type NatsServerHandle,
  type PostgresServerHandle,
} from '../testing/index.ts';

export const TEST_MODEL = 'test-model';

/** A job as GET /v1/jobs/:id returns it (the fields tests read). */
export interface JobBody {
  readonly id: string;
  readonly kind: string;
  readonly status: string;
  readonly owner: string;
  readonly lastSeq: number;
  readonly waitingFor: string[];
  readonly output: unknown;
  readonly error: { code: string; message: string } | null;
  readonly steps: Array<{ id: string; status: string; attempt: number; activity: string; error: { code: string; message: string } | null; usage: { calls: number } }>;
  readonly artifacts: Array<{ step: string; name: string; key: string; bytes: number; downloadUrl: string | null }>;
  readonly usage: { calls: number; promptTokens: number; completionTokens: number; costUsd: number; modelMs: number; durationMs: number };
}

export interface ApiResponse<T> {
  readonly status: number;
  readonly body: T;
  readonly headers: Headers;
}

export interface JobsCluster {
  readonly nats: NatsServerHandle;
  readonly postgres: PostgresServerHandle;
  readonly databaseUrl: string;
  readonly model: FakeModelServer;
  readonly dataDir: string;
  readonly hosts: LoomProcess[];
  readonly gateways: LoomProcess[];
  readonly workers: LoomProcess[];
  readonly nc: NatsConnection;
  readonly user: { readonly id: string; readonly token: string };
  /** Another user, for ownership checks. */
  readonly stranger: { readonly id: string; readonly token: string };
  api<T = unknown>(method: string, path: string, opts?: { body?: unknown; headers?: Record<string, string>; token?: string; gateway?: number }): Promise<ApiResponse<T>>;
  /** POST /v1/jobs; asserts nothing. */
  createJob(body: unknown, headers?: Record<string, string>): Promise<ApiResponse<{ created: boolean; job: JobBody }>>;
  getJob(id: string): Promise<JobBody>;
  /** Polls GET /v1/jobs/:id until `until` holds. */
  waitForJob(id: string, until: (job: JobBody) => boolean, what: string, timeoutMs?: number): Promise<JobBody>;
  stop(): Promise<void>;
}

/** Answers every built-in pipeline's prompts with something valid (tests wrap it to inject trouble). */
export function scriptedAnswer(request: FakeChatRequest): string {
  const system = request.messages.find((m) => m.role === 'system')?.content ?? '';
  const user = request.messages.find((m) => m.role === 'user')?.content ?? '';
  const task = /Task: ([a-z.-]+\/[a-z-]+)/.exec(system)?.[1] ?? 'unknown';
  switch (task) {
    case 'document.generate/outline': {
      const n = Number(/exactly (\d+) sections/.exec(user)?.[1] ?? 1);
      const topic = /Topic: (.*)/.exec(user)?.[1] ?? 'Topic';
      return JSON.stringify({ title: topic, sections: Array.from({ length: n }, (_, i) => ({ heading: `Part ${i + 1}`, summary: `part ${i + 1}` })) });
    }
    case 'document.generate/section':
      return `Body of section ${/Write section (\d+)/.exec(user)?.[1]}, written by the model.`;
    case 'research.deep/plan':
      return JSON.stringify({ subQuestions: ['What causes tides?', 'Why two a day?', 'What are spring tides?'] });
    case 'research.deep/answer':
      return `Finding ${/Sub-question (\d+)/.exec(user)?.[1]}.`;
    case 'research.deep/synthesis':
      return 'The moon pulls the oceans [1]; the earth turns under two bulges [2]; the sun adds to it [3].';
    case 'script.variations/variation':
      return `Variation ${/variation (\d+)/.exec(user)?.[1]} of the script.`;
    case 'script.variations/adapt':
      return `[${/Target language: (\S+)/.exec(user)?.[1]}] ${user.split('\n\n').slice(1).join(' ')}`;
    case 'slides.generate/outline': {
      const n = Number(/Exactly (\d+) slides/.exec(user)?.[1] ?? 2);
      return JSON.stringify({ title: 'Deck', slides: Array.from({ length: n }, (_, i) => ({ title: `Slide ${i + 1}`, bullets: ['one', 'two'], layout: i === 0 ? 'title' : 'title-bullets' })) });
    }
    case 'slides.generate/notes':
      return `Say this about slide ${/Slide (\d+)/.exec(user)?.[1]}.`;
    default:
      return `echo: ${user}`;
  }
}

/** The task tag of a model request ("document.generate/section"). */
export function taskOfRequest(request: FakeChatRequest): string {
  const system = request.messages.find((m) => m.role === 'system')?.content ?? '';
  return /Task: ([a-z.-]+\/[a-z-]+)/.exec(system)?.[1] ?? 'unknown';
}

export interface JobsClusterOptions {
  /** One process with every role (the default), or separate processes. */
  readonly layout?: 'combined' | { readonly hosts: number; readonly gateways: number; readonly workers: number };
  readonly env?: Record<string, string>;
}

export async function startJobsCluster(opts: JobsClusterOptions = {}): Promise<JobsCluster> {
  const [nats, postgres, model, dataDir] = await Promise.all([
    startNatsServer(),
    startPostgresServer(),
    startFakeModelServer({ respond: scriptedAnswer }),
    mkdtemp(path.join(tmpdir(), 'loom-jobs-')),
  ]);
  const databaseUrl = await postgres.createDatabase();
  const env: Record<string, string> = {
    OPENAI_BASE_URL: model.baseURL,
    OPENAI_API_KEY: 'test',
    LOOM_DEFAULT_MODEL: TEST_MODEL,
    LOOM_INFERENCE_MODELS: TEST_MODEL,
    // One delivery per request: retries happen as step attempts, which the tests watch.
    LOOM_INFERENCE_MAX_DELIVER: '1',
    LOOM_JOB_RETRY_BASE_MS: '50',
    LOOM_JOB_RETRY_MAX_MS: '400',
    LOOM_JOB_STEP_TIMEOUT_MS: '30000',
    LOOM_JOB_SUPERVISOR_INTERVAL_MS: '500',
    LOOM_LEASE_TTL_MS: '2000',
    LOOM_MODEL_PRICES: JSON.stringify({ [TEST_MODEL]: { promptPerMillionUsd: 1, completionPerMillionUsd: 2 } }),
    LOOM_RATE_API_BURST: '100000',
    LOOM_RATE_API_PER_S: '100000',
    ...opts.env,
  };
  const spawn = (name: string, roles: Role[]) => startLoomProcess({ name, roles, natsUrl: nats.url, databaseUrl, dataDir, env });
  const layout = opts.layout ?? 'combined';
  const hosts: LoomProcess[] = [];
  const gateways: LoomProcess[] = [];
  const workers: LoomProcess[] = [];
  if (layout === 'combined') {
    const all = await spawn('loom-0', ['gateway', 'actors', 'inference']);
    hosts.push(all);
    gateways.push(all);
    workers.push(all);
  } else {
    // Hosts first, one at a time, so migrations run once and the others find them applied.
    for (let i = 0; i < layout.hosts; i++) hosts.push(await spawn(`host-${i}`, ['actors']));
    gateways.push(...(await Promise.all(Array.from({ length: layout.gateways }, (_, i) => spawn(`gw-${i}`, ['gateway'])))));
    workers.push(...(await Promise.all(Array.from({ length: layout.workers }, (_, i) => spawn(`inference-${i}`, ['inference'])))));
  }
  const nc = await connect({ servers: nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });

  const request = async <T>(method: string, p: string, o: { body?: unknown; headers?: Record<string, string>; token?: string; gateway?: number } = {}): Promise<ApiResponse<T>> => {
    const gw = gateways[o.gateway ?? 0];
    if (gw === undefined) throw new Error('no gateway');
    const res = await fetch(`${gw.httpUrl}${p}`, {
      method,
      headers: {
        ...(o.token === undefined ? {} : { authorization: `Bearer ${o.token}` }),
        ...(o.body === undefined ? {} : { 'content-type': 'application/json' }),
        ...o.headers,
      },
      ...(o.body === undefined ? {} : { body: typeof o.body === 'string' ? o.body : JSON.stringify(o.body) }),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await res.text();
    return { status: res.status, body: (text.length === 0 ? null : JSON.parse(text)) as T, headers: res.headers };
  };
  const register = async () => {
    const r = await request<{ user: { id: string }; tokens: { accessToken: string } }>('POST', '/v1/auth/register', {
      body: { email: `jobs-${randomUUID()}@test.example`, password: 'correct horse battery staple' },
    });
    if (r.status !== 201) throw new Error(`register: ${r.status} ${JSON.stringify(r.body)}`);
    return { id: r.body.user.id, token: r.body.tokens.accessToken };
  };
  const user = await register();
  const stranger = await register();

  const cluster: JobsCluster = {
    nats,
    postgres,
    databaseUrl,
    model,
    dataDir,
    hosts,
    gateways,
    workers,
    nc,
    user,
    stranger,
    api: (method, p, o = {}) => request(method, p, { token: user.token, ...o }),
    createJob: (body, headers) => request('POST', '/v1/jobs', { token: user.token, body, ...(headers ? { headers } : {}) }),
    async getJob(id) {
      const r = await request<JobBody>('GET', `/v1/jobs/${encodeURIComponent(id)}`, { token: user.token });
      if (r.status !== 200) throw new Error(`GET job ${id}: ${r.status} ${JSON.stringify(r.body)}`);
      return r.body;
    },
    waitForJob: (id, until, what, timeoutMs = 30_000) =>
      waitFor(
        async () => {
          const job = await cluster.getJob(id);
          return until(job) ? job : null;
        },
        { what: `job ${id} ${what}`, timeoutMs, intervalMs: 100 },
      ),
    async stop() {
      await nc.close();
      const all = [...new Set([...gateways, ...hosts, ...workers])];
      await Promise.allSettled(all.map((p) => p.stop()));
      await Promise.allSettled([nats.dispose(), postgres.dispose(), model.close()]);
      await rm(dataDir, { recursive: true, force: true });
    },
  };
  return cluster;
}

/** One Server-Sent Event as the client parsed it. */
/** One span of GET /v1/docs/:id/attribution: a run of text and who wrote it. */
export interface AttributionSpan {
  readonly text: string;
  readonly author: string;
}

/**
 * The attribution spans of one text root, read over HTTP as the cluster's user.
 * @throws AssertionError when the route does not answer 200.
 */
export async function attributionSpans(cluster: JobsCluster, docId: string, root = 't'): Promise<AttributionSpan[]> {
  const r = await cluster.api<{ roots: Record<string, { spans: AttributionSpan[] }> }>('GET', `/v1/docs/${encodeURIComponent(docId)}/attribution`);
  if (r.status !== 200) throw new assert.AssertionError({ message: `attribution answered ${r.status}: ${JSON.stringify(r.body)}`, actual: r.status, expected: 200 });
  return r.body.roots[root]?.spans ?? [];
}

export interface SseEvent {
  readonly id: string | undefined;
  readonly event: string;
  readonly data: string;
}

/**
 * Reads an SSE stream until it ends, `stopAfter` returns true, or the signal aborts.
 * @returns the events read, and whether the server ended the stream.
 */
export async function readSse(
  url: string,
  opts: { token: string; lastEventId?: string; stopAfter?: (e: SseEvent, all: readonly SseEvent[]) => boolean; timeoutMs?: number },
): Promise<{ events: SseEvent[]; ended: boolean; status: number }> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(new Error('sse read timed out')), opts.timeoutMs ?? 30_000);
  const events: SseEvent[] = [];
  try {
    const res = await fetch(url, {
      headers: { authorization: `Bearer ${opts.token}`, accept: 'text/event-stream', ...(opts.lastEventId === undefined ? {} : { 'last-event-id': opts.lastEventId }) },
      signal: abort.signal,
    });
    if (res.status !== 200 || res.body === null) return { events, ended: true, status: res.status };
    const decoder = new TextDecoder();
    let buffered = '';
    let stopped = false;
    reading: for await (const chunk of res.body) {
      buffered += decoder.decode(chunk as Uint8Array, { stream: true });
      let cut: number;
      while ((cut = buffered.indexOf('\n\n')) >= 0) {
        const block = buffered.slice(0, cut);
        buffered = buffered.slice(cut + 2);
        let id: string | undefined;
        let event = 'message';
        const data: string[] = [];
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) continue;
          const colon = line.indexOf(':');
          const field = colon < 0 ? line : line.slice(0, colon);
          const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
          if (field === 'id') id = value;
          else if (field === 'event') event = value;
          else if (field === 'data') data.push(value);
        }
        if (data.length === 0 && id === undefined) continue;
        const e: SseEvent = { id, event, data: data.join('\n') };
        events.push(e);
        if (opts.stopAfter?.(e, events) === true) {
          stopped = true;
          break reading;
        }
      }
    }
    return { events, ended: !stopped, status: 200 };
  } finally {
    clearTimeout(timer);
    abort.abort();
  }
}
