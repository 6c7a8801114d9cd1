/**
 * The events of an agent session's durable log (JetStream subject
 * log.agent.<id-token> in stream LOOM_AGENT_LOG, JSON). A log entry holds
 * the events of one decision: a single event object, or an array of up to
 * AGENT_EVENTS_PER_ENTRY events (one append per step boundary instead of one
 * per event). The session actor is their only writer; each event is
 * published live on event.agent.<id-token>.<type> with a Loom-Seq header
 * carrying its event id, entry sequence × AGENT_EVENTS_PER_ENTRY + index in
 * the entry, which clients resume from (SSE Last-Event-ID, /ws
 * `lastEventId`). The session's state is the fold of these events; the
 * PostgreSQL row is a projection of it.
 *
 * Every event carries `v` (layout version) and `at` (ms since the epoch,
 * when the actor decided it). Decoders reject unknown versions.
 */
import { z } from 'zod';
import { ProtocolError } from './errors.ts';
import { usageSchema } from './job-events.ts';
import { decodeJson, encodeJson } from './reply.ts';

export const AGENT_EVENT_VERSION = 1;

/** Tool names follow the OpenAI function-name rule (same as actors/agent/tool.ts). */
export const AGENT_TOOL_NAME = /^[A-Za-z0-9_-]{1,64}$/;

/** A tool as the session offers it to the model, fixed when the session starts. */
export const agentToolSchema = z.object({
  name: z.string().regex(AGENT_TOOL_NAME),
  description: z.string().max(4_000),
  /** JSON Schema of the arguments object. */
  parameters: z.record(z.unknown()),
  needsApproval: z.boolean(),
  timeoutMs: z.number().int().positive(),
  source: z.enum(['builtin', 'service']),
});
export type AgentTool = z.infer<typeof agentToolSchema>;

/** One `tool_calls` entry of a model answer; `arguments` is the JSON text exactly as the model sent it. */
export const agentToolCallSchema = z.object({
  id: z.string().min(1).max(128),
  name: z.string().max(128),
  arguments: z.string(),
});
export type AgentToolCall = z.infer<typeof agentToolCallSchema>;

/** What a tool call returned; a failure is a result the model sees, never a crash. */
export const agentToolResultSchema = z.discriminatedUnion('ok', [
  z.object({ ok: z.literal(true), content: z.string() }),
  z.object({ ok: z.literal(false), code: z.string().min(1).max(64), error: z.string() }),
]);
export type AgentToolResult = z.infer<typeof agentToolResultSchema>;

export const agentErrorSchema = z.object({ code: z.string().min(1).max(64), message: z.string().max(4_000) });
export type AgentError = z.infer<typeof agentErrorSchema>;

/** How a turn ended. */
export const TURN_STATUSES = ['completed', 'cancelled', 'max-steps', 'failed'] as const;
export type TurnStatus = (typeof TURN_STATUSES)[number];

/** Why a model call is made: to answer (a step of the turn) or to summarise older turns (context management). */
export const MODEL_CALL_PURPOSES = ['answer', 'summary'] as const;
export type ModelCallPurpose = (typeof MODEL_CALL_PURPOSES)[number];

/** More cuts than one request's messages cannot be. */
const AGENT_EVENTS_MAX_CUTS = 256;

const base = { v: z.literal(AGENT_EVENT_VERSION), at: z.number().int().nonnegative() };
const turnId = z.string().min(1).max(32);
const step = z.number().int().min(1);
const callId = z.string().min(1).max(128);

const sessionStarted = z.object({
  type: z.literal('session-started'),
  ...base,
  ownerId: z.string(),
  instructions: z.string().nullable(),
  model: z.string(),
  tools: z.array(agentToolSchema),
  docId: z.string().nullable(),
  maxSteps: z.number().int().min(1),
  tokenBudget: z.number().int().min(1),
  /** sha256 of the canonical start request: starting the same id again with another request is a conflict. */
  requestHash: z.string(),
});

const turnStarted = z.object({ type: z.literal('turn-started'), ...base, turnId, content: z.string() });

const modelCallStarted = z.object({
  type: z.literal('model-call-started'),
  ...base,
  turnId,
  step,
  purpose: z.enum(MODEL_CALL_PURPOSES),
  /** Inference request id (dedup key on the queue and of results). */
  requestId: z.string(),
  /** When the call counts as failed if no result came. */
  deadlineAt: z.number().int(),
  /**
   * Tool results of the turn the answer request carries cut, to fit one
   * request (absent when none is): the `index`th result of the turn keeps
   * its first `keptChars` UTF-16 units. A resubmission applies the same cuts.
   */
  cuts: z.array(z.object({ index: z.number().int().nonnegative(), keptChars: z.number().int().nonnegative() })).max(AGENT_EVENTS_MAX_CUTS).optional(),
  /**
   * The turn's first `foldedSteps` steps (answers and their tool results)
   * the answer request carries folded into text, to stay within the
   * request's message count (absent when none is).
   */
  foldedSteps: z.number().int().min(1).optional(),
});

const modelCallCompleted = z.object({
  type: z.literal('model-call-completed'),
  ...base,
  turnId,
  step,
  purpose: z.enum(MODEL_CALL_PURPOSES),
  requestId: z.string(),
  content: z.string(),
  toolCalls: z.array(agentToolCallSchema),
  finishReason: z.string(),
  usage: usageSchema,
});

const modelCallFailed = z.object({
  type: z.literal('model-call-failed'),
  ...base,
  turnId,
  step,
  purpose: z.enum(MODEL_CALL_PURPOSES),
  requestId: z.string(),
  error: agentErrorSchema,
});

const toolCallStarted = z.object({
  type: z.literal('tool-call-started'),
  ...base,
  turnId,
  step,
  callId,
  name: z.string(),
  arguments: z.string(),
});

const toolCallCompleted = z.object({
  type: z.literal('tool-call-completed'),
  ...base,
  turnId,
  step,
  callId,
  name: z.string(),
  result: agentToolResultSchema,
  durationMs: z.number().nonnegative(),
});

const approvalRequested = z.object({
  type: z.literal('approval-requested'),
  ...base,
  turnId,
  step,
  callId,
  name: z.string(),
  arguments: z.string(),
});

const approvalDecided = z.object({
  type: z.literal('approval-decided'),
  ...base,
  turnId,
  callId,
  approved: z.boolean(),
  by: z.string(),
  comment: z.string().nullable(),
});

const summaryRecorded = z.object({
  type: z.literal('summary-recorded'),
  ...base,
  turnId,
  /** Turns up to and including this one are replaced by `content` in later model calls. */
  throughTurnId: turnId,
  content: z.string(),
});

const turnCompleted = z.object({
  type: z.literal('turn-completed'),
  ...base,
  turnId,
  status: z.enum(TURN_STATUSES),
  /** The model's final answer (status `completed`), else null. */
  answer: z.string().nullable(),
  error: agentErrorSchema.nullable(),
});

export const agentEventSchema = z.discriminatedUnion('type', [
  sessionStarted,
  turnStarted,
  modelCallStarted,
  modelCallCompleted,
  modelCallFailed,
  toolCallStarted,
  toolCallCompleted,
  approvalRequested,
  approvalDecided,
  summaryRecorded,
  turnCompleted,
]);
export type AgentEvent = z.infer<typeof agentEventSchema>;
export type AgentEventType = AgentEvent['type'];
export type AgentEventOf<T extends AgentEventType> = Extract<AgentEvent, { type: T }>;

export const AGENT_EVENT_TYPES = [
  'session-started',
  'turn-started',
  'model-call-started',
  'model-call-completed',
  'model-call-failed',
  'tool-call-started',
  'tool-call-completed',
  'approval-requested',
  'approval-decided',
  'summary-recorded',
  'turn-completed',
] as const satisfies readonly AgentEventType[];

export function isAgentEventType(name: string): name is AgentEventType {
  return (AGENT_EVENT_TYPES as readonly string[]).includes(name);
}

/** An agent event with its position in the session's log. */
export interface SequencedAgentEvent {
  readonly seq: number;
  readonly event: AgentEvent;
}

export function encodeAgentEvent(event: AgentEvent): Uint8Array {
  return encodeJson(event);
}

/**
 * Decodes one live event body (or a log entry of one event).
 * @throws ProtocolError `malformed-message` naming the fault (unknown type or version included).
 */
export function decodeAgentEvent(body: Uint8Array): AgentEvent {
  return decodeJson(body, agentEventSchema, 'agent event');
}

/**
 * Reads a live event that the session actor itself encoded (only it
 * publishes on event.agent.<id>.<type>): checks the JSON, the version and
 * the type, not every field, which the actor's own types already guarantee;
 * a full check per event was a noticeable part of a gateway's CPU under
 * load. Input from outside Loom goes through decodeAgentEvent.
 * @throws ProtocolError `malformed-message` naming the fault.
 */
export function readOwnAgentEvent(body: Uint8Array): AgentEvent {
  let value: unknown;
  try {
    value = JSON.parse(utf8.decode(body));
  } catch (err) {
    throw new ProtocolError('malformed-message', 'agent event: body is not UTF-8 JSON', { cause: err });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ProtocolError('malformed-message', 'agent event: body is not a JSON object');
  const { v, type, at } = value as { v?: unknown; type?: unknown; at?: unknown };
  if (v !== AGENT_EVENT_VERSION) throw new ProtocolError('malformed-message', `agent event: v must be ${AGENT_EVENT_VERSION}`);
  if (typeof type !== 'string' || !isAgentEventType(type)) throw new ProtocolError('malformed-message', 'agent event: type is not an agent event type');
  if (typeof at !== 'number') throw new ProtocolError('malformed-message', 'agent event: at must be a number');
  return value as AgentEvent;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Most events in one log entry; an event's id leaves this much room per entry. */
export const AGENT_EVENTS_PER_ENTRY = 64;

/**
 * Events share an entry only while the entry stays within this many bytes; a
 * larger event is an entry alone. NATS refuses a message over its
 * max_payload (1 MiB by default), and a model's answer with large tool-call
 * arguments is followed by one `tool-call-started` repeating each of them.
 */
export const AGENT_ENTRY_MAX_BYTES = 256 * 1024;

/** Groups encoded events, in order, into the bodies of successive entries (AGENT_EVENTS_PER_ENTRY, AGENT_ENTRY_MAX_BYTES). */
export function agentEntryGroups(bodies: readonly Uint8Array[]): Uint8Array[][] {
  const groups: Uint8Array[][] = [];
  let group: Uint8Array[] = [];
  let bytes = 1;
  for (const body of bodies) {
    if (group.length === AGENT_EVENTS_PER_ENTRY || (group.length > 0 && bytes + body.byteLength + 1 > AGENT_ENTRY_MAX_BYTES)) {
      groups.push(group);
      group = [];
      bytes = 1;
    }
    group.push(body);
    bytes += body.byteLength + 1;
  }
  if (group.length > 0) groups.push(group);
  return groups;
}

/** The id clients see (and resume after) for the `index`th event of the entry at `entrySeq`. */
export function agentEventId(entrySeq: number, index: number): number {
  if (!Number.isInteger(index) || index < 0 || index >= AGENT_EVENTS_PER_ENTRY) throw new RangeError(`event index ${index} outside an entry`);
  return entrySeq * AGENT_EVENTS_PER_ENTRY + index;
}

/** The log entry an event id lies in (0: before the first entry). */
export function agentEntrySeqOf(eventId: number): number {
  return Math.floor(eventId / AGENT_EVENTS_PER_ENTRY);
}

/** Encodes one log entry of 1..AGENT_EVENTS_PER_ENTRY events from their encoded bodies (a lone event stays a plain object). */
export function encodeAgentEntry(bodies: readonly Uint8Array[]): Uint8Array {
  if (bodies.length === 0 || bodies.length > AGENT_EVENTS_PER_ENTRY) throw new RangeError(`an agent log entry holds 1..${AGENT_EVENTS_PER_ENTRY} events, not ${bodies.length}`);
  if (bodies.length === 1 && bodies[0] !== undefined) return bodies[0];
  // A JSON array of the bodies: `[` body `,` body … `]`.
  const out = new Uint8Array(bodies.reduce((n, b) => n + b.byteLength + 1, 1));
  let at = 0;
  bodies.forEach((b, i) => {
    out[at] = i === 0 ? OPEN_BRACKET : COMMA;
    out.set(b, at + 1);
    at += b.byteLength + 1;
  });
  out[at] = CLOSE_BRACKET;
  return out;
}

const OPEN_BRACKET = 0x5b;
const COMMA = 0x2c;
const CLOSE_BRACKET = 0x5d;
const agentEventsSchema = z.array(agentEventSchema).min(1).max(AGENT_EVENTS_PER_ENTRY);

/**
 * Decodes one log entry into its events, in order.
 * @throws ProtocolError `malformed-message` naming the fault.
 */
export function decodeAgentEntry(body: Uint8Array): AgentEvent[] {
  return body[0] === OPEN_BRACKET ? decodeJson(body, agentEventsSchema, 'agent log entry') : [decodeAgentEvent(body)];
}

/**
 * Whether a log entry may hold an event of one of `types`, without decoding
 * it: false only when no `"<type>"` occurs in its bytes. Events are JSON
 * whose type names are plain ASCII, which JSON writes unescaped, so an
 * entry holding such an event always contains its quoted name; inside a
 * text its quotes are escaped, so a match is rarely a false one (which
 * would only cost a full decode). For readers that care about a few types
 * of every entry (the outbound-event relay).
 */
export function mayHoldAgentEvent(body: Uint8Array, types: readonly AgentEventType[]): boolean {
  const bytes = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  return types.some((type) => bytes.includes(`"${type}"`));
}
