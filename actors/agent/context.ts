/**
 * What the model sees: the session's transcript turned into chat messages,
 * with turns already summarised replaced by their summary, and the token
 * estimate that decides when to summarise. Pure functions of the state, so
 * a call resubmitted after a crash carries exactly the same messages.
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
const MAX_CONVERSATION_BYTES = INFERENCE_LIMITS.maxBodyBytes - ENVELOPE_BYTES;
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
  let bytes = tools.length > 0 ? remembered(jsonBytesOf, tools, jsonBytes) : 0;
  for (const m of messages) {
    // A model's answer (or a tool result under a large LOOM_AGENT_TOOL_MAX_RESULT_BYTES) may be longer than one message may be.
    if (m.content.length > CHAT_LIMITS.maxMessageChars) return false;
    bytes += remembered(jsonBytesOf, m, jsonBytes) + 1;
    if (bytes > MAX_CONVERSATION_BYTES) return false;
  }
  return true;
}

/** The value of a frozen object is kept; anything else may still change and is measured each time. */
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
function systemMessage(state: AgentState): readonly ChatMessage[] {
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
function messageFor(item: TranscriptItem): ChatMessage | null {
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

/**
 * The messages of the next `answer` call: instructions and summary, then
 * every turn the summary does not cover, with the running turn's tool
 * results cut as `cuts` says (resultCuts; recorded in model-call-started).
 */
export function answerMessages(state: AgentState, cuts: readonly ResultCut[] = []): ChatMessage[] {
  const after = state.summary?.throughTurn ?? 0;
  const current = state.turn?.number ?? 0;
  const kept = new Map(cuts.map((c) => [c.index, c.keptChars]));
  const messages = [...systemMessage(state)];
  let index = 0;
  for (const item of state.transcript) {
    if (item.turn <= after) continue;
    const m = messageFor(item);
    if (m === null) continue;
    const keptChars = item.turn === current && m.role === 'tool' ? kept.get(index++) : undefined;
    messages.push(keptChars === undefined ? m : { ...m, content: cutResult(m.content, keptChars) });
  }
  return messages;
}

/**
 * A tool result of the running turn cut to fit the answer request: the
 * `index`th tool result of the turn (0-based, in transcript order) keeps
 * its first `keptChars` UTF-16 units, then a note for the model.
 */
export interface ResultCut {
  readonly index: number;
  readonly keptChars: number;
}

/** What the model reads of a cut result: the kept part and a note saying how much it sees. */
function cutResult(full: string, keptChars: number): string {
  const kept = full.slice(0, keptChars);
  return kept + cutNote(Buffer.byteLength(kept, 'utf8'), Buffer.byteLength(full, 'utf8'));
}

function cutNote(keptBytes: number, totalBytes: number): string {
  return `\n[cut by Loom: this turn's tool results exceed one model request; ${keptBytes} of ${totalBytes} bytes shown]`;
}

/**
 * How to cut the running turn's tool results so that its next answer call
 * fits one queued request (bytes and characters per message), or [] when it
 * fits already or cutting them cannot make it fit (too many messages, or
 * what is not a result of this turn is too large: summaries handle that).
 * The longest results are cut to one common length (their JSON text,
 * note included, within the room left), as summaryMessages cuts lines.
 * A pure function of the state (`messages`: its answerMessages, when the
 * caller has them already); the engine records its answer in
 * model-call-started, so a resubmission after a crash is the same request.
 */
export function resultCuts(state: AgentState, messages: readonly ChatMessage[] = answerMessages(state)): ResultCut[] {
  const started = state.started;
  const turn = state.turn;
  if (started === null || turn === null) return [];
  const tools = toolDefinitions(started.tools);
  if (messages.length > INFERENCE_LIMITS.maxMessages || fitsInferenceRequest(messages, tools)) return [];
  const texts: string[] = [];
  for (const item of state.transcript) if (item.turn === turn.number && item.body.role === 'tool') texts.push(toolResultText(item.body.result));
  if (texts.length === 0) return [];
  let room = MAX_CONVERSATION_BYTES - (tools.length > 0 ? remembered(jsonBytesOf, tools, jsonBytes) : 0);
  for (const m of messages) room -= remembered(jsonBytesOf, m, jsonBytes) + 1;
  // A note is at most this long (the kept count has no more digits than the total).
  const noteOf = texts.map((t) => {
    const total = Buffer.byteLength(t, 'utf8');
    return cutNote(total, total);
  });
  // First within the characters one message may hold (ASCII notes: a character is a byte), then the common length.
  const kept = texts.map((t, i) => (t.length + (noteOf[i]?.length ?? 0) <= CHAT_LIMITS.maxMessageChars ? t : charsWithin(t, CHAT_LIMITS.maxMessageChars - (noteOf[i]?.length ?? 0))));
  const noteBytes = noteOf.map(jsonTextBytes);
  const costs = kept.map((k, i) => jsonTextBytes(k) + (k === texts[i] ? 0 : (noteBytes[i] ?? 0)));
  room += texts.reduce((n, t) => n + jsonTextBytes(t), 0);
  const cap = commonCap(costs, room);
  const cuts: ResultCut[] = [];
  kept.forEach((k, i) => {
    const note = noteBytes[i] ?? 0;
    const within = (costs[i] ?? 0) <= cap ? k : jsonTextPrefix(k, Math.max(0, cap - note));
    if (within.length < (texts[i]?.length ?? 0)) cuts.push({ index: i, keptChars: within.length });
  });
  return cuts;
}

/** `s` cut to at most `maxChars` UTF-16 units, never splitting a surrogate pair. */
function charsWithin(s: string, maxChars: number): string {
  return chunks(s, Math.max(1, maxChars))[0] ?? '';
}

/** The largest length that makes `costs`, each cut to it, sum to at most `budget` (Infinity when they fit as they are). */
function commonCap(costs: readonly number[], budget: number): number {
  let left = budget;
  const sorted = [...costs].sort((a, b) => a - b);
  for (const [i, cost] of sorted.entries()) {
    const share = Math.floor(left / (sorted.length - i));
    if (cost > share) return Math.max(0, share);
    left -= cost;
  }
  return Infinity;
}

/**
 * The last finished turn not yet summarised, when the next answer call would
 * exceed the session's token budget; null when it fits or nothing can be
 * summarised (only whole earlier turns are, never the running one).
 */
export function summariseThrough(state: AgentState): number | null {
  const started = state.started;
  const current = state.turn;
  if (started === null || current === null) return null;
  const through = current.status === 'running' ? current.number - 1 : current.number;
  if (through <= (state.summary?.throughTurn ?? 0)) return null;
  const messages = answerMessages(state);
  const tools = toolDefinitions(started.tools);
  return estimateTokens(messages, tools) > started.tokenBudget || !fitsInferenceRequest(messages, tools) ? through : null;
}

function render(item: TranscriptItem): string | null {
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
function chunks(text: string, maxChars: number): string[] {
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
