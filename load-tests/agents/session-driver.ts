/**
 * One simulated client of the agent benchmark, driving sessions the way an
 * application does over HTTP: POST /v1/agent-sessions, follow
 * GET /v1/agent-sessions/:id/events (SSE), then POST a message, wait for
 * `turn-completed` on the stream, and again, `turns` times; then a fresh
 * session (long transcripts are not what this measures). It stops starting
 * turns when the window closes.
 */
import { messageFor, type BenchModel } from './outside-world.ts';
import { followSse, type SseMessage } from './sse-follow.ts';
import type { TurnLedger } from './turn-ledger.ts';

export interface ApiClient {
  readonly baseUrl: string;
  readonly token: string;
  request<T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }>;
}

/** Plain fetch with a bearer token and JSON bodies. */
export function apiClient(baseUrl: string, token: string): ApiClient {
  return {
    baseUrl,
    token,
    async request<T>(method: string, path: string, body?: unknown) {
      const res = await fetch(`${baseUrl}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(30_000),
      });
      const text = await res.text();
      return { status: res.status, body: (text.length === 0 ? null : JSON.parse(text)) as T };
    },
  };
}

export interface DriverOptions {
  readonly api: ApiClient;
  readonly ledger: TurnLedger;
  readonly model: BenchModel;
  readonly start: { readonly tools: readonly string[]; readonly maxSteps: number };
  readonly turnsPerSession: number;
  /** performance.now() bounds: turns sent in [measureFrom, stopAt) are counted; none is sent after stopAt. */
  readonly measureFrom: number;
  readonly stopAt: number;
  readonly turnTimeoutMs: number;
}

/** What all drivers saw, besides the ledger. */
export class DriverFigures {
  readonly tokenToClientMs: number[] = [];
  readonly createMs: number[] = [];
  /** POST …/messages sent → its 202, for turns in the window: the HTTP part of a turn's first step. */
  readonly messageAcceptedMs: number[] = [];
  readonly errors: string[] = [];
  sessions = 0;
}

/** Matches `turn-completed` events to the turn ids POST answered; either may come first. */
class TurnWaiter {
  private readonly pending = new Map<string, (at: number, status: string) => void>();
  private readonly early = new Map<string, { at: number; status: string }>();

  wait(turnId: string, timeoutMs: number): Promise<{ at: number; status: string }> {
    const seen = this.early.get(turnId);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(turnId);
        reject(new Error(`turn ${turnId} did not complete within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(turnId, (at, status) => {
        clearTimeout(timer);
        resolve({ at, status });
      });
    });
  }

  settle(turnId: string, at: number, status: string): void {
    const waiting = this.pending.get(turnId);
    if (waiting === undefined) this.early.set(turnId, { at, status });
    else waiting(at, status);
    this.pending.delete(turnId);
  }
}

/** Runs sessions one after the other until the window closes; errors are recorded, not thrown. */
export async function driveSessions(opts: DriverOptions, figures: DriverFigures): Promise<void> {
  while (performance.now() < opts.stopAt) {
    try {
      await oneSession(opts, figures);
    } catch (err) {
      figures.errors.push((err as Error).message);
      // A broken edge would otherwise spin: the run reports the errors and fails.
      if (figures.errors.length > 100) throw new Error(`agents: over 100 client errors, the first: ${figures.errors[0]}`);
    }
  }
}

async function oneSession(opts: DriverOptions, figures: DriverFigures): Promise<void> {
  const t0 = performance.now();
  const created = await opts.api.request<{ session: { id: string } }>('POST', '/v1/agent-sessions', { tools: opts.start.tools, maxSteps: opts.start.maxSteps });
  if (created.status !== 201) throw new Error(`POST /v1/agent-sessions answered ${created.status}: ${JSON.stringify(created.body).slice(0, 300)}`);
  figures.createMs.push(performance.now() - t0);
  figures.sessions += 1;
  const id = created.body.session.id;
  const waiter = new TurnWaiter();
  let opened: (() => void) | undefined;
  const following = new Promise<void>((resolve) => (opened = resolve));
  const onEvent = (m: SseMessage, at: number) => {
    if (m.event === 'token') return tokenSeen(opts, figures, m.data, at);
    // The log's first event: the stream now follows live events too (it subscribes before reading the log).
    if (m.event === 'session-started') opened?.();
    if (m.event === 'turn-completed') {
      const event = JSON.parse(m.data) as { turnId: string; status: string };
      waiter.settle(event.turnId, at, event.status);
    }
  };
  const stream = await followSse(`${opts.api.baseUrl}/v1/agent-sessions/${encodeURIComponent(id)}/events`, { authorization: `Bearer ${opts.api.token}` }, onEvent);
  try {
    await following;
    for (let turn = 1; turn <= opts.turnsPerSession; turn++) {
      const sentAt = performance.now();
      if (sentAt >= opts.stopAt) return;
      const record = opts.ledger.open(id, turn, sentAt, sentAt >= opts.measureFrom);
      const sent = await opts.api.request<{ turnId: string }>('POST', `/v1/agent-sessions/${encodeURIComponent(id)}/messages`, { content: messageFor(id, turn) });
      if (sent.status !== 202) throw new Error(`POST messages answered ${sent.status}: ${JSON.stringify(sent.body).slice(0, 300)}`);
      if (sentAt >= opts.measureFrom) figures.messageAcceptedMs.push(performance.now() - sentAt);
      const ended = await waiter.wait(sent.body.turnId, opts.turnTimeoutMs);
      record.endedAt = ended.at;
      record.status = ended.status;
      if (ended.status !== 'completed') throw new Error(`turn ${sent.body.turnId} of ${id} ended ${ended.status}`);
    }
  } finally {
    stream.close();
    await stream.done;
  }
}

function tokenSeen(opts: DriverOptions, figures: DriverFigures, data: string, at: number): void {
  const delta = (JSON.parse(data) as { delta?: unknown }).delta;
  if (typeof delta !== 'string') return;
  for (const token of delta.match(/k\d+/g) ?? []) {
    const sent = opts.model.tokens.get(token);
    if (sent !== undefined && opts.ledger.get(sent.key)?.measured === true) figures.tokenToClientMs.push(at - sent.sentAt);
  }
}
