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
import type { ChatMessage, ToolDefinition } from '../../protocol/inference.ts';
import type { AgentState, TranscriptItem } from './state.ts';

const PER_MESSAGE_TOKENS = 8;

const SUMMARY_INSTRUCTIONS =
  'Summarise the conversation below so that you can continue it later from the summary alone. ' +
  'Keep facts, decisions, names, numbers, open questions and what tools returned that still matters. Be concise.';

// Estimates of messages and tools arrays, which every step repeats as the same frozen objects.
const estimateOf = new WeakMap<object, number>();

export function estimateTokens(messages: readonly ChatMessage[], tools: readonly ToolDefinition[] = []): number {
  let total = 0;
  for (const m of messages) total += remembered(m, messageTokens);
  if (tools.length > 0) total += remembered(tools, toolsTokens);
  return total;
}

/** The estimate of a frozen object is kept; anything else may still change and is estimated each time. */
function remembered<T extends object>(value: T, estimate: (value: T) => number): number {
  const known = estimateOf.get(value);
  if (known !== undefined) return known;
  const tokens = estimate(value);
  if (Object.isFrozen(value)) estimateOf.set(value, tokens);
  return tokens;
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
  return parts.length === 0 ? [] : [{ role: 'system', content: parts.join('\n\n') }];
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

/** The messages of the next `answer` call: instructions and summary, then every turn the summary does not cover. */
export function answerMessages(state: AgentState): ChatMessage[] {
  const after = state.summary?.throughTurn ?? 0;
  const messages = [...systemMessage(state)];
  for (const item of state.transcript) {
    if (item.turn <= after) continue;
    const m = messageFor(item);
    if (m !== null) messages.push(m);
  }
  return messages;
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
  return estimateTokens(answerMessages(state), toolDefinitions(started.tools)) > started.tokenBudget ? through : null;
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

/** The messages of a `summary` call covering the previous summary and turns up to `throughTurn`. */
export function summaryMessages(state: AgentState, throughTurn: number): ChatMessage[] {
  const after = state.summary?.throughTurn ?? 0;
  const lines: string[] = [];
  if (state.summary !== null) lines.push(`Earlier summary: ${state.summary.content}`);
  for (const item of state.transcript) {
    if (item.turn <= after || item.turn > throughTurn) continue;
    const line = render(item);
    if (line !== null) lines.push(line);
  }
  return [
    { role: 'system', content: SUMMARY_INSTRUCTIONS },
    { role: 'user', content: lines.join('\n\n') },
  ];
}
