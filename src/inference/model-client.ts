/**
 * The OpenAI-compatible client adapter: one streamed chat completion
 * (`POST <base>/chat/completions`, `stream: true`) to vLLM in production or
 * the suite's fake in tests. It speaks HTTP itself over a keep-alive agent
 * and reads the server-sent events line by line: the `openai` SDK over
 * Node's fetch and web streams cost about a quarter of a busy worker's CPU
 * (load-tests/README.md, agents). Failures are the SDK's error classes
 * (APIError with the status, APIConnectionError), so failure.ts classifies
 * them as before. Retries are the work queue's job: there are none here.
 */
import http from 'node:http';
import https from 'node:https';
import { StringDecoder } from 'node:string_decoder';
import { APIConnectionError, APIConnectionTimeoutError, APIError } from 'openai';
import type { ChatCompletionChunk, ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import type { ChatMessage, ToolCall, ToolChoice, ToolDefinition } from '../../protocol/inference.ts';
import { ToolCallAssembler } from './tool-call-assembler.ts';

/** What the worker asks of a model server. */
export interface ModelCall {
  readonly model: string;
  readonly messages: readonly ChatMessage[];
  readonly maxTokens?: number;
  readonly temperature?: number;
  readonly responseFormat?: 'text' | 'json';
  readonly tools?: readonly ToolDefinition[];
  readonly toolChoice?: ToolChoice;
}

/** Events of one streamed call: content deltas, then exactly one `done`. */
export type ModelEvent =
  | { readonly type: 'delta'; readonly text: string }
  | {
      readonly type: 'done';
      readonly finishReason: string;
      /** Assembled from the streamed `tool_calls` deltas, in index order; ids may be empty if the server sent none. */
      readonly toolCalls: readonly ToolCall[];
      /** From the server's usage chunk; null when it sent none. */
      readonly usage: { readonly promptTokens: number; readonly completionTokens: number } | null;
    };

/** The port the worker calls; `OpenAiModelClient` is the adapter. */
export interface ModelClient {
  /**
   * Streams one chat completion. Aborting `signal` ends the call (the
   * iterator throws). Throws the SDK's errors (`APIError` and subclasses).
   */
  stream(call: ModelCall, signal: AbortSignal): AsyncIterable<ModelEvent>;
}

export interface OpenAiModelClientOptions {
  /** `OPENAI_BASE_URL`, e.g. `http://127.0.0.1:8000/v1`. */
  readonly baseUrl: string;
  /** `OPENAI_API_KEY`; local servers accept any. */
  readonly apiKey: string;
  /** Upper bound of one HTTP call, headers to last byte. */
  readonly timeoutMs: number;
}

/** Longest error body read from a refusing server (the rest is dropped). */
const MAX_ERROR_BODY_CHARS = 64 * 1024;
/** Longest line of an event stream; a server sending more is broken. */
const MAX_SSE_LINE_CHARS = 8 * 1024 * 1024;

export class OpenAiModelClient implements ModelClient {
  readonly #url: URL;
  readonly #apiKey: string;
  readonly #timeoutMs: number;
  readonly #agent: http.Agent;

  constructor(opts: OpenAiModelClientOptions) {
    const base = opts.baseUrl.endsWith('/') ? opts.baseUrl : `${opts.baseUrl}/`;
    this.#url = new URL('chat/completions', base);
    if (this.#url.protocol !== 'http:' && this.#url.protocol !== 'https:') throw new RangeError(`model server URL must be http or https: ${opts.baseUrl}`);
    this.#apiKey = opts.apiKey;
    this.#timeoutMs = opts.timeoutMs;
    // One connection per call in flight, kept open between calls.
    const agentOpts = { keepAlive: true, scheduling: 'lifo' as const };
    this.#agent = this.#url.protocol === 'https:' ? new https.Agent(agentOpts) : new http.Agent(agentOpts);
  }

  async *stream(call: ModelCall, signal: AbortSignal): AsyncIterable<ModelEvent> {
    const body = JSON.stringify({
      model: call.model,
      messages: call.messages.map(toSdkMessage),
      stream: true,
      stream_options: { include_usage: true },
      ...(call.maxTokens !== undefined ? { max_tokens: call.maxTokens } : {}),
      ...(call.temperature !== undefined ? { temperature: call.temperature } : {}),
      ...(call.responseFormat === 'json' ? { response_format: { type: 'json_object' } } : {}),
      ...(call.tools !== undefined ? { tools: call.tools.map((t) => ({ type: t.type, function: { ...t.function } })) } : {}),
      ...(call.toolChoice !== undefined ? { tool_choice: call.toolChoice } : {}),
    });
    const timeout = AbortSignal.timeout(this.#timeoutMs);
    const both = AbortSignal.any([signal, timeout]);
    const res = await this.#post(body, both, timeout);
    let finishReason: string | undefined;
    let usage: { promptTokens: number; completionTokens: number } | null = null;
    const toolCalls = new ToolCallAssembler();
    try {
      for await (const data of sseData(res, () => (timeout.aborted && !signal.aborted ? `model call exceeded ${this.#timeoutMs} ms` : null))) {
        // Read on to the end of the response after [DONE], so the connection can be reused.
        if (data === '[DONE]') continue;
        const chunk = parseChunk(data, res);
        const choice = chunk.choices?.[0];
        const text = choice?.delta?.content;
        if (typeof text === 'string' && text.length > 0) yield { type: 'delta', text };
        for (const delta of choice?.delta?.tool_calls ?? []) toolCalls.add(delta);
        if (choice?.finish_reason) finishReason = choice.finish_reason;
        if (chunk.usage) usage = { promptTokens: chunk.usage.prompt_tokens, completionTokens: chunk.usage.completion_tokens };
      }
    } finally {
      // Leaving early (an error, a consumer that stops): the socket is not reused mid-response.
      if (!res.complete) res.destroy();
    }
    signal.throwIfAborted();
    if (finishReason === undefined) throw new IncompleteStreamError('the model stream ended without a finish_reason');
    yield { type: 'done', finishReason, toolCalls: toolCalls.calls(), usage };
  }

  /** Sends the request; resolves with a 2xx response, rejects with the SDK's error for anything else. */
  #post(body: string, signal: AbortSignal, timeout: AbortSignal): Promise<http.IncomingMessage> {
    signal.throwIfAborted();
    const send = this.#url.protocol === 'https:' ? https.request : http.request;
    return new Promise((resolve, reject) => {
      const req = send(this.#url, {
        method: 'POST',
        agent: this.#agent,
        signal,
        headers: {
          'content-type': 'application/json',
          accept: 'text/event-stream',
          authorization: `Bearer ${this.#apiKey}`,
          'content-length': Buffer.byteLength(body),
        },
      });
      req.once('error', (err) => {
        if (timeout.aborted) reject(new APIConnectionTimeoutError({ message: `model call exceeded ${this.#timeoutMs} ms` }));
        else reject(new APIConnectionError({ message: err.message, cause: err }));
      });
      req.once('response', (res) => {
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) {
          resolve(res);
          return;
        }
        readErrorBody(res).then(
          (text) => {
            const json = safeJson(text);
            reject(APIError.generate(status, json ?? undefined, json === null ? text : undefined, responseHeaders(res)));
          },
          (err: unknown) => reject(new APIConnectionError({ message: `model server answered ${status}, then the connection broke`, cause: err as Error })),
        );
      });
      req.end(body);
    });
  }
}

/**
 * The `data` of each server-sent event, in order (comments and other fields
 * are skipped). A connection that breaks (or is destroyed by an abort: the
 * caller knows its own reason) is an APIConnectionError; `timedOut` names
 * the call's own timeout when that was the cause.
 */
async function* sseData(res: http.IncomingMessage, timedOut: () => string | null): AsyncIterable<string> {
  const decoder = new StringDecoder('utf8');
  let buffered = '';
  let data: string[] = [];
  const pieces = res[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  for (;;) {
    let next: IteratorResult<Buffer>;
    try {
      next = await pieces.next();
    } catch (err) {
      const timeout = timedOut();
      if (timeout !== null) throw new APIConnectionTimeoutError({ message: timeout });
      throw new APIConnectionError({ message: `model stream broke: ${(err as Error).message}`, cause: err as Error });
    }
    if (next.done === true) break;
    const piece = next.value;
    buffered += decoder.write(piece);
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.charCodeAt(nl - 1) === 13 ? buffered.slice(0, nl - 1) : buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      if (line === '') {
        if (data.length > 0) yield data.join('\n');
        data = [];
      } else if (line.startsWith('data:')) {
        data.push(line.charCodeAt(5) === 32 ? line.slice(6) : line.slice(5));
      }
    }
    if (buffered.length > MAX_SSE_LINE_CHARS) throw new Error(`model stream line longer than ${MAX_SSE_LINE_CHARS} characters`);
  }
  if (data.length > 0) yield data.join('\n');
}

/** One streamed chunk; a chunk carrying `error` is the server failing mid-stream (as the SDK reports it). */
function parseChunk(data: string, res: http.IncomingMessage): Partial<ChatCompletionChunk> & { error?: unknown } {
  let chunk: unknown;
  try {
    chunk = JSON.parse(data);
  } catch {
    throw new APIError(undefined, undefined, `model stream sent a chunk that is not JSON: ${data.slice(0, 200)}`, responseHeaders(res));
  }
  if (chunk === null || typeof chunk !== 'object') throw new APIError(undefined, undefined, `model stream sent a chunk that is not an object: ${data.slice(0, 200)}`, responseHeaders(res));
  const c = chunk as Partial<ChatCompletionChunk> & { error?: unknown };
  if (c.error !== undefined && c.error !== null) throw new APIError(undefined, c.error as object, undefined, responseHeaders(res));
  return c;
}

async function readErrorBody(res: http.IncomingMessage): Promise<string> {
  res.setEncoding('utf8');
  let text = '';
  for await (const piece of res as AsyncIterable<string>) if (text.length < MAX_ERROR_BODY_CHARS) text += piece;
  return text.slice(0, MAX_ERROR_BODY_CHARS);
}

function safeJson(text: string): object | null {
  try {
    const v: unknown = JSON.parse(text);
    return v !== null && typeof v === 'object' ? v : null;
  } catch {
    return null;
  }
}

function responseHeaders(res: http.IncomingMessage): Headers {
  const h = new Headers();
  for (const [k, v] of Object.entries(res.headers)) {
    if (typeof v === 'string') h.set(k, v);
    else if (Array.isArray(v)) for (const x of v) h.append(k, x);
  }
  return h;
}

/** Our flat tool calls and camelCase keys to the OpenAI message shapes. */
function toSdkMessage(m: ChatMessage): ChatCompletionMessageParam {
  switch (m.role) {
    case 'system':
    case 'user':
      return { role: m.role, content: m.content };
    case 'assistant':
      if (m.toolCalls === undefined || m.toolCalls.length === 0) return { role: 'assistant', content: m.content };
      return {
        role: 'assistant',
        // OpenAI wants null, not '', beside tool calls.
        content: m.content === '' ? null : m.content,
        tool_calls: m.toolCalls.map((c) => ({ id: c.id, type: 'function' as const, function: { name: c.name, arguments: c.arguments } })),
      };
    case 'tool':
      return { role: 'tool', tool_call_id: m.toolCallId, content: m.content };
    default: {
      const never: never = m;
      throw new Error(`unknown chat role in ${JSON.stringify(never)}`);
    }
  }
}

/** The stream stopped before the server said it was finished (dropped connection). Retryable. */
export class IncompleteStreamError extends Error {
  override readonly name = 'IncompleteStreamError';
  readonly code = 'incomplete-stream';
}
