/**
 * fake-model-server.ts: a small OpenAI-compatible HTTP server for tests (the
 * model server is the outside world, so a fake is allowed; STYLE.md §8).
 *
 * `POST /v1/chat/completions`, streamed (SSE `data:` chunks with
 * `choices[0].delta.content`, a final chunk with `finish_reason`, a `usage`
 * chunk when `stream_options.include_usage`, then `data: [DONE]`) or not.
 * Tests control what it answers (`respond`, or `script` for a queue of
 * replies: text, or `tool_calls` streamed in the OpenAI delta shape), how fast
 * (`firstTokenDelayMs`, `tokenDelayMs`), when it fails (`failNext`,
 * `failModel`), and read what it saw (`calls`, `callCount`, `inFlight`,
 * `maxInFlight`).
 *
 * @example
 *   await using model = await startFakeModelServer({ respond: (r) => `echo ${r.messages.at(-1)?.content}` });
 *   const openai = new OpenAI({ baseURL: model.baseURL, apiKey: 'test' });
 *   model.failNext(2, { status: 503 });
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isRecord, parseChatRequest, planReply, type FakeAnswer, type FakeChatRequest } from './fake-model-chat.ts';

export type { FakeAnswer, FakeChatMessage, FakeChatRequest, FakeReply, FakeToolCall } from './fake-model-chat.ts';

/** One call the fake received, updated as it progresses. */
export interface FakeModelCall {
  /** 1-based arrival order. */
  readonly seq: number;
  readonly request: FakeChatRequest;
  /** The Authorization header, if sent. */
  readonly authorization: string | undefined;
  readonly startedAt: number;
  readonly endedAt: number | undefined;
  /** `aborted`: the client went away before the end (cancel, timeout, killed worker). */
  readonly outcome: 'in-flight' | 'ok' | 'failed' | 'dropped' | 'aborted';
  /** HTTP status sent (0 before headers). */
  readonly status: number;
  /** Content tokens sent so far. */
  readonly tokensSent: number;
}

/** A failure to inject. */
export interface FakeFailure {
  /** HTTP status to answer with (with an OpenAI-style `{ error }` body). */
  readonly status?: number;
  readonly message?: string;
  /** Only calls for this model are affected. */
  readonly model?: string;
  /** Streamed calls only: answer 200, send this many tokens, then destroy the socket. */
  readonly dropAfterTokens?: number;
}

export interface FakeModelServerOptions {
  /** The full answer (text, or a reply with tool calls) for a request without a scripted one (default: `echo: <last user message>`). May be async, to hold a call. */
  readonly respond?: (request: FakeChatRequest) => FakeAnswer | Promise<FakeAnswer>;
  /** Delay after the headers before the first token (streamed) or before the body. Default 0. */
  readonly firstTokenDelayMs?: number;
  /** Delay between streamed tokens. Default 0. */
  readonly tokenDelayMs?: number;
  /** Splits an answer into tokens (default: words with their trailing whitespace). */
  readonly tokenize?: (text: string) => string[];
}

export interface FakeModelServer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** `<url>/v1`: what OPENAI_BASE_URL / the SDK's `baseURL` should be. */
  readonly baseURL: string;
  /** Every call so far, in arrival order (live objects: they update as calls progress). */
  readonly calls: readonly FakeModelCall[];
  /** Calls received, optionally for one model. */
  callCount(model?: string): number;
  /** Calls being answered now. */
  readonly inFlight: number;
  /** Most calls ever answered at once since start or reset(). */
  readonly maxInFlight: number;
  /** Changes behaviour for later calls (merged over the current options). */
  configure(options: FakeModelServerOptions): void;
  /** The next `count` calls (matching `failure.model` if set) fail as described. */
  failNext(count: number, failure: FakeFailure): void;
  /**
   * Queues replies: each later call (for `model`, if given) takes the next one
   * before `respond` is asked. A function reply sees the request.
   */
  script(replies: ReadonlyArray<FakeAnswer | ((request: FakeChatRequest) => FakeAnswer | Promise<FakeAnswer>)>, opts?: { readonly model?: string }): void;
  /** Scripted replies not yet taken (for `model`, if given). */
  scriptedLeft(model?: string): number;
  /** Every call for `model` fails as described until called again with null. */
  failModel(model: string, failure: Omit<FakeFailure, 'model'> | null): void;
  /** Forgets calls, failures, scripts and the max-in-flight mark; restores the start options. */
  reset(): void;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

const MAX_BODY_BYTES = 8 * 1024 * 1024;

const defaultTokenize = (text: string): string[] => text.match(/\s*\S+\s*|\s+/g) ?? [];
const defaultRespond = (r: FakeChatRequest): string => `echo: ${r.messages.filter((m) => m.role === 'user').at(-1)?.content ?? ''}`;

interface MutableCall {
  seq: number;
  request: FakeChatRequest;
  authorization: string | undefined;
  startedAt: number;
  endedAt: number | undefined;
  outcome: FakeModelCall['outcome'];
  status: number;
  tokensSent: number;
}

/**
 * Starts the fake on 127.0.0.1 and a free port.
 * @throws Error if the port cannot be bound.
 */
export async function startFakeModelServer(options: FakeModelServerOptions = {}): Promise<FakeModelServer> {
  const initial = { ...options };
  let current: FakeModelServerOptions = { ...options };
  let calls: MutableCall[] = [];
  let queued: Array<{ remaining: number; failure: FakeFailure }> = [];
  type Scripted = FakeAnswer | ((request: FakeChatRequest) => FakeAnswer | Promise<FakeAnswer>);
  let scripts: Array<{ reply: Scripted; model: string | undefined }> = [];
  const perModel = new Map<string, Omit<FakeFailure, 'model'>>();
  let inFlight = 0;
  let maxInFlight = 0;

  const takeFailure = (model: string): FakeFailure | undefined => {
    const sticky = perModel.get(model);
    if (sticky !== undefined) return sticky;
    const entry = queued.find((q) => q.remaining > 0 && (q.failure.model === undefined || q.failure.model === model));
    if (entry === undefined) return undefined;
    entry.remaining -= 1;
    queued = queued.filter((q) => q.remaining > 0);
    return entry.failure;
  };

  const answer = (request: FakeChatRequest, opts: FakeModelServerOptions): FakeAnswer | Promise<FakeAnswer> => {
    const at = scripts.findIndex((s) => s.model === undefined || s.model === request.model);
    if (at < 0) return (opts.respond ?? defaultRespond)(request);
    const reply = scripts.splice(at, 1)[0]?.reply ?? '';
    return typeof reply === 'function' ? reply(request) : reply;
  };

  const server: Server = createServer((req, res) => {
    void handle(req, res).catch((err: unknown) => {
      // A handler bug: answer 500 if still possible; the test sees it as a failed call.
      if (!res.headersSent) sendError(res, 500, `fake model server: ${err instanceof Error ? err.message : String(err)}`);
      else res.destroy();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'POST' || (req.url ?? '').split('?')[0] !== '/v1/chat/completions') {
      sendError(res, 404, `no route ${req.method} ${req.url}`);
      return;
    }
    const raw = await readBody(req);
    let request: FakeChatRequest;
    try {
      request = parseChatRequest(raw);
    } catch (err) {
      sendError(res, 400, (err as Error).message);
      return;
    }
    const call: MutableCall = {
      seq: calls.length + 1,
      request,
      authorization: req.headers.authorization,
      startedAt: Date.now(),
      endedAt: undefined,
      outcome: 'in-flight',
      status: 0,
      tokensSent: 0,
    };
    calls.push(call);
    inFlight += 1;
    maxInFlight = Math.max(maxInFlight, inFlight);
    let closed = false;
    res.on('close', () => {
      closed = true;
      if (call.outcome === 'in-flight') call.outcome = 'aborted';
      if (call.endedAt === undefined) call.endedAt = Date.now();
      inFlight -= 1;
    });
    const opts = current;
    const failure = takeFailure(request.model);
    if (failure !== undefined && failure.dropAfterTokens === undefined) {
      call.status = failure.status ?? 500;
      call.outcome = 'failed';
      sendError(res, call.status, failure.message ?? `injected failure ${call.status}`);
      return;
    }
    let reply: FakeAnswer;
    try {
      reply = await answer(request, opts);
    } catch (err) {
      call.status = 500;
      call.outcome = 'failed';
      sendError(res, 500, `respond() threw: ${err instanceof Error ? err.message : String(err)}`);
      return;
    }
    if (closed) return;
    const { tokens, toolCalls, finishReason, completionTokens } = planReply(reply, call.seq, request.maxTokens, opts.tokenize ?? defaultTokenize);
    const usage = () => ({ prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens });
    const promptTokens = request.messages.reduce((n, m) => n + (opts.tokenize ?? defaultTokenize)(m.content).length, 0);
    const id = `chatcmpl-fake-${call.seq}`;
    const created = Math.floor(Date.now() / 1000);
    if (!request.stream) {
      await pause(opts.firstTokenDelayMs ?? 0, () => closed);
      if (closed) return;
      call.status = 200;
      call.tokensSent = tokens.length;
      call.outcome = 'ok';
      sendJson(res, 200, {
        id,
        object: 'chat.completion',
        created,
        model: request.model,
        choices: [
          {
            index: 0,
            message: {
              role: 'assistant',
              content: tokens.length === 0 && toolCalls.length > 0 ? null : tokens.join(''),
              ...(toolCalls.length > 0
                ? { tool_calls: toolCalls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.argumentPieces.join('') } })) }
                : {}),
            },
            finish_reason: finishReason,
            logprobs: null,
          },
        ],
        usage: usage(),
      });
      return;
    }
    call.status = 200;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) =>
      res.write(`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model: request.model, choices, ...extra })}\n\n`);
    chunk([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }]);
    await pause(opts.firstTokenDelayMs ?? 0, () => closed);
    for (const [i, token] of tokens.entries()) {
      if (closed) return;
      if (failure?.dropAfterTokens !== undefined && i >= failure.dropAfterTokens) {
        call.outcome = 'dropped';
        res.destroy();
        return;
      }
      if (i > 0) await pause(opts.tokenDelayMs ?? 0, () => closed);
      if (closed) return;
      chunk([{ index: 0, delta: { content: token }, finish_reason: null }]);
      call.tokensSent += 1;
    }
    if (closed) return;
    if (failure?.dropAfterTokens !== undefined) {
      call.outcome = 'dropped';
      res.destroy();
      return;
    }
    // OpenAI's shape: a call's first delta names it (index, id, name), later ones add argument text by index.
    for (const [index, c] of toolCalls.entries()) {
      await pause(opts.tokenDelayMs ?? 0, () => closed);
      if (closed) return;
      chunk([{ index: 0, delta: { tool_calls: [{ index, id: c.id, type: 'function', function: { name: c.name, arguments: '' } }] }, finish_reason: null }]);
      for (const piece of c.argumentPieces) chunk([{ index: 0, delta: { tool_calls: [{ index, function: { arguments: piece } }] }, finish_reason: null }]);
    }
    chunk([{ index: 0, delta: {}, finish_reason: finishReason }]);
    const streamOptions = request.body['stream_options'];
    if (isRecord(streamOptions) && streamOptions['include_usage'] === true) chunk([], { usage: usage() });
    res.write('data: [DONE]\n\n');
    call.outcome = 'ok';
    res.end();
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
    return closing;
  };

  return {
    url,
    baseURL: `${url}/v1`,
    get calls(): readonly FakeModelCall[] {
      return calls;
    },
    callCount: (model) => (model === undefined ? calls.length : calls.filter((c) => c.request.model === model).length),
    get inFlight() {
      return inFlight;
    },
    get maxInFlight() {
      return maxInFlight;
    },
    configure(next) {
      current = { ...current, ...next };
    },
    failNext(count, failure) {
      if (count > 0) queued.push({ remaining: count, failure });
    },
    script(replies, opts) {
      for (const reply of replies) scripts.push({ reply, model: opts?.model });
    },
    scriptedLeft: (model) => scripts.filter((s) => model === undefined || s.model === undefined || s.model === model).length,
    failModel(model, failure) {
      if (failure === null) perModel.delete(model);
      else perModel.set(model, failure);
    },
    reset() {
      current = { ...initial };
      calls = [];
      queued = [];
      scripts = [];
      perModel.clear();
      maxInFlight = inFlight;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

async function readBody(req: IncomingMessage): Promise<string> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const part of req) {
    const buf = part as Buffer;
    size += buf.byteLength;
    if (size > MAX_BODY_BYTES) throw new Error(`request body over ${MAX_BODY_BYTES} bytes`);
    parts.push(buf);
  }
  return Buffer.concat(parts).toString('utf8');
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(value));
}

function sendError(res: ServerResponse, status: number, message: string): void {
  sendJson(res, status, { error: { message, type: status >= 500 ? 'server_error' : 'invalid_request_error', code: null, param: null } });
}

/** Waits `ms`, ending early (checked every 25 ms) once `stop()` holds. */
async function pause(ms: number, stop: () => boolean): Promise<void> {
  const end = Date.now() + ms;
  while (!stop()) {
    const left = end - Date.now();
    if (left <= 0) return;
    await new Promise((resolve) => setTimeout(resolve, Math.min(left, 25)));
  }
}
