/**
 * What the model sees, in parts: the session's transcript items as chat
 * messages, the system message (instructions and summary), the request of
 * a `summary` call, and the measures that decide when a request must be
 * made smaller (answer-request.ts makes it so). Pure functions of the
 * state, so a call resubmitted after a crash carries the same messages.
 *
 * Token heuristic: ceil(UTF-8 bytes / 4) + 8 per message (tool calls and
 * tool schemas counted by their JSON text). Cheap, model-independent and
 * on the safe side for English and code; exact counts come back in usage.
 */
import type { AgentTool, AgentToolResult } from '../../protocol/agent-events.ts';
import { CHAT_LIMITS, INFERENCE_LIMITS, type ChatMessage, type ToolDefinition } from '../../protocol/inference.ts';
import { jsonTextBytes, jsonTextPrefix } from '../../protocol/json-text.ts';
import type { AgentState, TranscriptItem } from './state.ts';

const PER_MESSAGE_TOKENS = 8;
/** Room left in a queued request for its fields besides messages and tools (ids, model, routes, meta). */
const ENVELOPE_BYTES = 16 * 1024;
/** The most a request's messages and tools may take as JSON: the queue refuses larger requests. */
export const MAX_CONVERSATION_BYTES = INFERENCE_LIMITS.maxBodyBytes - ENVELOPE_BYTES;
/** What the transcript rendered for a summary call may take as JSON (its instructions and message framing aside). */
const SUMMARY_INPUT_BYTES = MAX_CONVERSATION_BYTES - 4 * 1024;
const CUT_NOTE = ' [… cut]';

const SUMMARY_INSTRUCTIONS =
  'Summarise the conversation below so that you can continue it later from the summary alone. ' +
  'Keep facts, decisions, names, numbers, open questions and what tools returned that still matters. Be concise.';

// Estimates and sizes of messages and tools arrays, which every step repeats as the same frozen objects.
const estimateOf = new WeakMap<object, number>();
const jsonBytesOf = new WeakMap<object, number>();

export function estimateTokens(messages: readonly ChatMessage[], tools: readonly ToolDefinition[] = []): number {
  let total = 0;
  for (const m of messages) total += remembered(estimateOf, m, messageTokens);
  if (tools.length > 0) total += remembered(estimateOf, tools, toolsTokens);
  return total;
}

/**
 * Whether an answer call with these messages and tools is within what the
 * inference queue takes (INFERENCE_LIMITS: message count, body bytes, and
 * CHAT_LIMITS' characters per message). A session over a limit could never
 * make another call: short turns reach 256 messages long before the token
 * budget, and a budget of 2,000,000 tokens allows far more bytes than a
 * request may carry.
 */
export function fitsInferenceRequest(messages: readonly ChatMessage[], tools: readonly ToolDefinition[] = []): boolean {
  if (messages.length > INFERENCE_LIMITS.maxMessages) return false;
  let bytes = toolsBytes(tools);
  for (const m of messages) {
    // A model's answer (or a tool result under a large LOOM_AGENT_TOOL_MAX_RESULT_BYTES) may be longer than one message may be.
    if (m.content.length > CHAT_LIMITS.maxMessageChars) return false;
    bytes += messageBytes(m);
    if (bytes > MAX_CONVERSATION_BYTES) return false;
  }
  return true;
}

/** The value of a frozen object is kept; anything else may still change and is measured each time. */
/** JSON bytes of a message in a request (its separator included). */
export function messageBytes(m: ChatMessage): number {
  return remembered(jsonBytesOf, m, jsonBytes) + 1;
}

/** JSON bytes of a request's tools (0 for none). */
export function toolsBytes(tools: readonly ToolDefinition[]): number {
  return tools.length > 0 ? remembered(jsonBytesOf, tools, jsonBytes) : 0;
}

function remembered<T extends object>(cache: WeakMap<object, number>, value: T, measure: (value: T) => number): number {
  const known = cache.get(value);
  if (known !== undefined) return known;
  const n = measure(value);
  if (Object.isFrozen(value)) cache.set(value, n);
  return n;
}

function jsonBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value), 'utf8');
}

function messageTokens(m: ChatMessage): number {
  let bytes = Buffer.byteLength(m.content, 'utf8');
  if (m.role === 'assistant' && m.toolCalls !== undefined) bytes += Buffer.byteLength(JSON.stringify(m.toolCalls), 'utf8');
  return Math.ceil(bytes / 4) + PER_MESSAGE_TOKENS;
}

function toolsTokens(tools: readonly ToolDefinition[]): number {
  return Math.ceil(Buffer.byteLength(JSON.stringify(tools), 'utf8') / 4);
}

// A session's tools and transcript items never change once made, so what is
// derived from them is made once and the same objects go into every request:
// the queue's encoder checks each object only the first time (protocol/inference.ts).
const definitionsOf = new WeakMap<readonly AgentTool[], readonly ToolDefinition[]>();
const messageOf = new WeakMap<TranscriptItem, ChatMessage | null>();

/** The session's tools in the OpenAI `tools` format (the same array for the same tools). */
export function toolDefinitions(tools: readonly AgentTool[]): readonly ToolDefinition[] {
  let definitions = definitionsOf.get(tools);
  if (definitions === undefined) {
    // Parameters are copied: the encoder freezes what it checked, and the originals may be the runner's own.
    definitions = tools.map((t) => ({ type: 'function', function: { name: t.name, description: t.description, parameters: structuredClone(t.parameters) } }));
    definitionsOf.set(tools, definitions);
  }
  return definitions;
}

/** How a tool result reads to the model. */
export function toolResultText(result: AgentToolResult): string {
  return result.ok ? result.content : `error (${result.code}): ${result.error}`;
}

const systemOf = new WeakMap<object, { readonly summary: AgentState['summary']; readonly messages: readonly ChatMessage[] }>();

/** The system message, made once per (session start, summary). */
export function systemMessage(state: AgentState): readonly ChatMessage[] {
  const started = state.started;
  if (started === null) return makeSystemMessage(state);
  const cached = systemOf.get(started);
  if (cached !== undefined && cached.summary === state.summary) return cached.messages;
  const messages = makeSystemMessage(state);
  systemOf.set(started, { summary: state.summary, messages });
  return messages;
}

function makeSystemMessage(state: AgentState): ChatMessage[] {
  const parts: string[] = [];
  const instructions = state.started?.instructions ?? null;
  if (instructions !== null) parts.push(instructions);
  if (state.summary !== null) parts.push(`Summary of the conversation so far:\n${state.summary.content}`);
  if (parts.length === 0) return [];
  // The summary is the model's text, of any length: cut, so that no later call of the session is refused for it.
  const content = parts.join('\n\n');
  return [{ role: 'system', content: content.length <= CHAT_LIMITS.maxMessageChars ? content : chunks(content, CHAT_LIMITS.maxMessageChars - CUT_NOTE.length)[0] + CUT_NOTE }];
}

/** The item as a chat message (null for a summary), made once per item. */
export function messageFor(item: TranscriptItem): ChatMessage | null {
  let message = messageOf.get(item);
  if (message === undefined) {
    message = toMessage(item);
    messageOf.set(item, message);
  }
  return message;
}

function toMessage(item: TranscriptItem): ChatMessage | null {
  const b = item.body;
  switch (b.role) {
    case 'user':
      return { role: 'user', content: b.content };
    case 'assistant':
      return b.toolCalls.length === 0 ? { role: 'assistant', content: b.content } : { role: 'assistant', content: b.content, toolCalls: b.toolCalls };
    case 'tool':
      return { role: 'tool', toolCallId: b.callId, content: toolResultText(b.result) };
    case 'summary':
      return null; // carried by the system message
    default: {
      const never: never = b;
      throw new Error(`unhandled transcript entry ${JSON.stringify(never)}`);
    }
  }
}

/** The largest length that makes `costs`, each cut to it, sum to at most `budget` (Infinity when they fit as they are). */
export function commonCap(costs: readonly number[], budget: number): number {
  let left = budget;
  const sorted = [...costs].sort((a, b) => a - b);
  for (const [i, cost] of sorted.entries()) {
    const share = Math.floor(left / (sorted.length - i));
    if (cost > share) return Math.max(0, share);
    left -= cost;
  }
  return Infinity;
}

/** An item as a line of text (summaries and folded steps read the transcript this way); null for a summary. */
export function render(item: TranscriptItem): string | null {
  const b = item.body;
  switch (b.role) {
    case 'user':
      return `User: ${b.content}`;
    case 'assistant': {
      const calls = b.toolCalls.map((c) => `Assistant called ${c.name}(${c.arguments})`);
      return [b.content === '' ? null : `Assistant: ${b.content}`, ...calls].filter((l) => l !== null).join('\n');
    }
    case 'tool':
      return `Tool ${b.name} returned: ${toolResultText(b.result)}`;
    case 'summary':
      return null;
    default: {
      const never: never = b;
      throw new Error(`unhandled transcript entry ${JSON.stringify(never)}`);
    }
  }
}

/**
 * The messages of a `summary` call covering the previous summary and turns
 * up to `throughTurn`. The rendered turns always fit one queued request: when
 * they are larger (one step's tool results alone can be megabytes) the
 * longest lines are cut to a common length, and the text is spread over as
 * many user messages as the per-message limit needs.
 */
export function summaryMessages(state: AgentState, throughTurn: number): ChatMessage[] {
  const after = state.summary?.throughTurn ?? 0;
  const lines: string[] = [];
  if (state.summary !== null) lines.push(`Earlier summary: ${state.summary.content}`);
  for (const item of state.transcript) {
    if (item.turn <= after || item.turn > throughTurn) continue;
    const line = render(item);
    if (line !== null) lines.push(line);
  }
  const text = cutToFit(lines, SUMMARY_INPUT_BYTES).join('\n\n');
  return [{ role: 'system', content: SUMMARY_INSTRUCTIONS }, ...chunks(text, CHAT_LIMITS.maxMessageChars).map((content): ChatMessage => ({ role: 'user', content }))];
}

/**
 * The lines with the longest ones cut (noted) to the one length that makes
 * their JSON text, separators included, fit `budget` bytes; lines that fit
 * already are returned as they are. Linear apart from one sort.
 */
function cutToFit(lines: readonly string[], budget: number): string[] {
  const costs = lines.map(jsonTextBytes);
  const cap = commonCap(costs, budget - 4 * Math.max(0, lines.length - 1)); // "\n\n" is 4 bytes of JSON
  if (cap === Infinity) return [...lines];
  const note = jsonTextBytes(CUT_NOTE);
  return lines.map((line, i) => ((costs[i] ?? 0) <= cap ? line : cap > note ? jsonTextPrefix(line, cap - note) + CUT_NOTE : jsonTextPrefix(line, cap)));
}

/** `text` in pieces of at most `maxChars` UTF-16 units, never splitting a surrogate pair. */
export function chunks(text: string, maxChars: number): string[] {
  const out: string[] = [];
  let from = 0;
  do {
    let to = Math.min(text.length, from + maxChars);
    const last = text.charCodeAt(to - 1);
    if (to < text.length && last >= 0xd800 && last <= 0xdbff) to--;
    out.push(text.slice(from, to));
    from = to;
  } while (from < text.length);
  return out;
}
