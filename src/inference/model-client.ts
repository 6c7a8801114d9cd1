/**
 * The OpenAI-compatible client adapter: one streamed chat completion through
 * the `openai` SDK (vLLM in production, the suite's fake in tests). Retries
 * are the work queue's job, so the SDK's own are off.
 */
import OpenAI from 'openai';
import type { Agent } from 'undici';
import type { ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import type { ChatMessage, ToolCall, ToolChoice, ToolDefinition } from '../../protocol/inference.ts';
import { modelServerAgent, undiciRequestFetch, type SdkFetch } from './model-http.ts';
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
  /** Connections kept open to the model server; default 64 (the role passes its concurrency). */
  readonly connections?: number;
  /** The SDK's HTTP; default undici's `request` over a keep-alive Agent (model-http.ts). */
  readonly fetch?: SdkFetch;
}

const DEFAULT_CONNECTIONS = 64;
const KEEP_ALIVE_MS = 30_000;

export class OpenAiModelClient implements ModelClient {
  readonly #client: OpenAI;
  readonly #timeoutMs: number;
  /** Owned only when no `fetch` was given. */
  readonly #agent: Agent | undefined;

  constructor(opts: OpenAiModelClientOptions) {
    let fetch = opts.fetch;
    if (fetch === undefined) {
      this.#agent = modelServerAgent({ connections: opts.connections ?? DEFAULT_CONNECTIONS, keepAliveTimeoutMs: KEEP_ALIVE_MS });
      fetch = undiciRequestFetch(this.#agent);
    }
    this.#client = new OpenAI({ baseURL: opts.baseUrl, apiKey: opts.apiKey, maxRetries: 0, timeout: opts.timeoutMs, fetch });
    this.#timeoutMs = opts.timeoutMs;
  }

  /** Closes the kept-alive connections (after the last call). */
  async close(): Promise<void> {
    await this.#agent?.close();
  }

  async *stream(call: ModelCall, signal: AbortSignal): AsyncIterable<ModelEvent> {
    const stream = await this.#client.chat.completions.create(
      {
        model: call.model,
        messages: call.messages.map(toSdkMessage),
        stream: true,
        stream_options: { include_usage: true },
        ...(call.maxTokens !== undefined ? { max_tokens: call.maxTokens } : {}),
        ...(call.temperature !== undefined ? { temperature: call.temperature } : {}),
        ...(call.responseFormat === 'json' ? { response_format: { type: 'json_object' as const } } : {}),
        ...(call.tools !== undefined ? { tools: call.tools.map((t) => ({ type: t.type, function: { ...t.function } })) } : {}),
        ...(call.toolChoice !== undefined ? { tool_choice: call.toolChoice } : {}),
      },
      { signal, timeout: this.#timeoutMs, maxRetries: 0 },
    );
    let finishReason: string | undefined;
    let usage: { promptTokens: number; completionTokens: number } | null = null;
    const toolCalls = new ToolCallAssembler();
    for await (const chunk of stream) {
      const choice = chunk.choices[0];
      const text = choice?.delta?.content;
      if (typeof text === 'string' && text.length > 0) yield { type: 'delta', text };
      for (const delta of choice?.delta?.tool_calls ?? []) toolCalls.add(delta);
      if (choice?.finish_reason) finishReason = choice.finish_reason;
      if (chunk.usage) usage = { promptTokens: chunk.usage.prompt_tokens, completionTokens: chunk.usage.completion_tokens };
    }
    // The SDK ends an aborted stream quietly, without throwing: never report that as an answer.
    signal.throwIfAborted();
    if (finishReason === undefined) throw new IncompleteStreamError('the model stream ended without a finish_reason');
    yield { type: 'done', finishReason, toolCalls: toolCalls.calls(), usage };
  }
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
