/**
 * Agent-session actor messages (kind `agent`): the public contract for
 * gateways and internal services. Layouts are described in PROTOCOL.md
 * ("Agent sessions").
 *
 * Commands (request/reply on actor.agent.<id-token>.<command>, JSON bodies):
 *   start             StartAgentRequest    -> StartAgentReply   creates the session, or returns the existing one (idempotent by id)
 *   message           AgentMessageRequest  -> AgentMessageReply starts a turn; `conflict` while a turn runs or waits for approval
 *   get               empty                -> AgentSessionView
 *   cancel            CancelAgentRequest   -> AgentSessionView  ends the running turn as `cancelled` (no-op when idle)
 *   approve           ApproveAgentRequest  -> AgentSessionView  decides a tool call waiting for approval
 *   resume            empty                -> AgentSessionView  no-op beyond activation: re-arms a session whose host died
 *   inference-result  InferenceResult      -> empty             from inference workers (protocol/inference.ts)
 * Events (event.agent.<id-token>.<event>):
 *   <AgentEvent type> an AgentEvent (protocol/agent-events.ts), header Loom-Seq = its log sequence
 *   token             TokenDelta (protocol/inference.ts) from inference workers; live only, no sequence
 *   status            AgentStatusEvent when the session's status changes; live only, no sequence
 */
import { z } from 'zod';
import { ProtocolError } from './errors.ts';
import { agentErrorSchema, agentToolCallSchema, agentToolResultSchema, AGENT_TOOL_NAME, TURN_STATUSES } from './agent-events.ts';
import { parseActorId } from './ids.ts';
import { decodeJson, encodeJson } from './reply.ts';
import { storableText } from './storable-json.ts';

export const AGENT_COMMANDS = ['start', 'message', 'get', 'cancel', 'approve', 'resume', 'inference-result'] as const;
export type AgentCommand = (typeof AGENT_COMMANDS)[number];

export function isAgentCommand(name: string): name is AgentCommand {
  return (AGENT_COMMANDS as readonly string[]).includes(name);
}

/** Command that carries inference results back to a session (InferenceRequest.replyTo.command). */
export const AGENT_INFERENCE_RESULT_COMMAND = 'inference-result' satisfies AgentCommand;
/** Event name inference workers publish token deltas on (InferenceRequest.tokensTo.event). */
export const AGENT_TOKEN_EVENT = 'token';
/** Live-only event published when the session's status changes. */
export const AGENT_STATUS_EVENT = 'status';

/** Limits every edge enforces (the decoders below, HTTP before forwarding). Sizes are UTF-8 bytes. */
export const AGENT_LIMITS = {
  /** Largest command body on the wire. */
  maxRequestBytes: 64 * 1024,
  /** Largest user message. */
  maxMessageBytes: 32 * 1024,
  maxInstructionsBytes: 16 * 1024,
  maxTools: 32,
  maxStepsCeiling: 100,
  defaultMaxSteps: 10,
  minTokenBudget: 1_000,
  maxTokenBudget: 2_000_000,
  defaultTokenBudget: 32_000,
  maxCommentChars: 4_000,
  /** A view carries the newest transcript entries up to about this many bytes (the log holds everything). */
  maxViewTranscriptBytes: 512 * 1024,
} as const;

export const AGENT_STATUSES = ['idle', 'running', 'waiting-approval', 'failed'] as const;
/** `failed`: the last turn failed; the session still takes the next message. */
export type AgentStatus = (typeof AGENT_STATUSES)[number];

const bytes = (s: string) => Buffer.byteLength(s, 'utf8');
// The owner also travels in a NATS header of every service tool call (Loom-Agent-Owner), which cannot hold CR or LF.
const OWNER = /^[^\u0000-\u001f\u007f-\u009f\uD800-\uDFFF]*$/u;
const maxBytes = (limit: number) => (s: string) => bytes(s) <= limit;
const idString = z.string().refine((v) => {
  try {
    parseActorId(v);
    return true;
  } catch {
    // parseActorId's message is replaced by the schema's own.
    return false;
  }
}, 'must be 1-200 bytes of well-formed text without control characters');
const modelName = z.string().min(1).max(128).regex(/^[^\s\u0000-\u001f\u007f-\u009f]+$/, 'must have no whitespace or control characters');

export const startAgentRequestSchema = z
  .object({
    /** Who the session belongs to (user id); tools act with this user's permissions. */
    ownerId: z.string().min(1).max(200).regex(OWNER, 'must not contain control characters or unpaired UTF-16 surrogates'),
    instructions: z.string().refine(maxBytes(AGENT_LIMITS.maxInstructionsBytes), `must be at most ${AGENT_LIMITS.maxInstructionsBytes} bytes`).nullable().default(null),
    /** null: the server's default agent model. */
    model: modelName.nullable().default(null),
    /** Tool names; absent: every built-in tool. Unknown names are refused (`invalid-input` naming `tools.N`). */
    tools: z
      .array(z.string().regex(AGENT_TOOL_NAME, 'must match [A-Za-z0-9_-]{1,64}'))
      .max(AGENT_LIMITS.maxTools)
      .refine((names) => new Set(names).size === names.length, 'must not repeat a name')
      .nullable()
      .default(null),
    /** The document the session works on, if any (tools see it as their default). */
    docId: idString.nullable().default(null),
    maxSteps: z.number().int().min(1).max(AGENT_LIMITS.maxStepsCeiling).default(AGENT_LIMITS.defaultMaxSteps),
    /** Estimated tokens the transcript may use before older turns are summarised. */
    tokenBudget: z.number().int().min(AGENT_LIMITS.minTokenBudget).max(AGENT_LIMITS.maxTokenBudget).default(AGENT_LIMITS.defaultTokenBudget),
  })
  .strict();
export type StartAgentRequest = z.input<typeof startAgentRequestSchema>;
export type ParsedStartAgentRequest = z.output<typeof startAgentRequestSchema>;

export const agentMessageRequestSchema = z
  .object({
    // A message's first words are the session's title: NUL or a lone surrogate made every projection write of the session fail.
    content: storableText().min(1).refine(maxBytes(AGENT_LIMITS.maxMessageBytes), `must be at most ${AGENT_LIMITS.maxMessageBytes} bytes`),
  })
  .strict();
export type AgentMessageRequest = z.input<typeof agentMessageRequestSchema>;

export const agentMessageReplySchema = z.object({ turnId: z.string() });
export type AgentMessageReply = z.infer<typeof agentMessageReplySchema>;

export const cancelAgentRequestSchema = z
  .object({ by: z.string().min(1).max(200).nullable().default(null), reason: z.string().max(1_000).nullable().default(null) })
  .strict();
export type CancelAgentRequest = z.input<typeof cancelAgentRequestSchema>;

export const approveAgentRequestSchema = z
  .object({
    /** The tool call waiting for approval (`pendingApprovals[].callId`). */
    callId: z.string().min(1).max(128),
    approved: z.boolean(),
    comment: z.string().max(AGENT_LIMITS.maxCommentChars).nullable().default(null),
    by: z.string().min(1).max(200).nullable().default(null),
  })
  .strict();
export type ApproveAgentRequest = z.input<typeof approveAgentRequestSchema>;

const count = z.number().int().nonnegative();

/** One entry of a session's transcript, in log order. */
export const transcriptEntrySchema = z.discriminatedUnion('role', [
  z.object({ role: z.literal('user'), seq: count, at: z.string(), turnId: z.string(), content: z.string() }),
  z.object({
    role: z.literal('assistant'),
    seq: count,
    at: z.string(),
    turnId: z.string(),
    step: z.number().int(),
    content: z.string(),
    toolCalls: z.array(agentToolCallSchema),
  }),
  z.object({
    role: z.literal('tool'),
    seq: count,
    at: z.string(),
    turnId: z.string(),
    callId: z.string(),
    name: z.string(),
    result: agentToolResultSchema,
    durationMs: z.number().nonnegative(),
  }),
  z.object({ role: z.literal('summary'), seq: count, at: z.string(), turnId: z.string(), throughTurnId: z.string(), content: z.string() }),
]);
export type TranscriptEntry = z.infer<typeof transcriptEntrySchema>;

export const pendingApprovalSchema = z.object({ turnId: z.string(), callId: z.string(), name: z.string(), arguments: z.string(), requestedAt: z.string() });
export type PendingApproval = z.infer<typeof pendingApprovalSchema>;

export const agentTurnViewSchema = z.object({
  id: z.string(),
  status: z.enum(['running', 'waiting-approval', ...TURN_STATUSES]),
  /** Model calls made to answer (summaries not counted). */
  steps: count,
  startedAt: z.string(),
  finishedAt: z.string().nullable(),
  error: agentErrorSchema.nullable(),
});
export type AgentTurnView = z.infer<typeof agentTurnViewSchema>;

export const agentUsageSchema = z.object({ calls: count, promptTokens: count, completionTokens: count, costUsd: z.number().nonnegative() });
export type AgentUsage = z.infer<typeof agentUsageSchema>;

/** What `get` (and GET /v1/agent-sessions/:id) returns. */
export const agentSessionViewSchema = z.object({
  id: z.string(),
  ownerId: z.string(),
  status: z.enum(AGENT_STATUSES),
  model: z.string(),
  instructions: z.string().nullable(),
  tools: z.array(z.object({ name: z.string(), description: z.string(), needsApproval: z.boolean(), source: z.enum(['builtin', 'service']) })),
  docId: z.string().nullable(),
  maxSteps: z.number().int(),
  tokenBudget: z.number().int(),
  /** The newest entries (about AGENT_LIMITS.maxViewTranscriptBytes); `transcriptTotal` counts all of them. */
  transcript: z.array(transcriptEntrySchema),
  transcriptTotal: count,
  /** The running (or last) turn. */
  currentTurn: agentTurnViewSchema.nullable(),
  turns: count,
  pendingApprovals: z.array(pendingApprovalSchema),
  usage: agentUsageSchema,
  createdAt: z.string(),
  updatedAt: z.string(),
  /** Sequence of the last event folded in: the id to resume events after. */
  lastSeq: count,
});
export type AgentSessionView = z.infer<typeof agentSessionViewSchema>;

export const startAgentReplySchema = z.object({ created: z.boolean(), session: agentSessionViewSchema });
export type StartAgentReply = z.infer<typeof startAgentReplySchema>;

/** Body of the live `status` event. */
export const agentStatusEventSchema = z.object({ status: z.enum(AGENT_STATUSES), turnId: z.string().nullable(), lastSeq: count });
export type AgentStatusEvent = z.infer<typeof agentStatusEventSchema>;

/** What a session puts in `meta` of its inference requests (echoed on results and token deltas). */
export interface AgentRequestMeta {
  readonly [key: string]: string | number;
  readonly sessionId: string;
  readonly turnId: string;
  readonly step: number;
}

/**
 * Decodes a command body, refusing oversized ones before parsing; an empty body reads as `{}`.
 * @throws ProtocolError `malformed-message` naming the field (sizes included).
 */
export function decodeAgentCommand<T>(body: Uint8Array, schema: z.ZodType<T, z.ZodTypeDef, unknown>, what: string): T {
  if (body.byteLength > AGENT_LIMITS.maxRequestBytes) {
    throw new ProtocolError('malformed-message', `${what}: body is ${body.byteLength} bytes; the limit is ${AGENT_LIMITS.maxRequestBytes}`);
  }
  // Commands whose fields are all optional (cancel) may come with an empty body.
  return decodeJson(body.byteLength === 0 ? EMPTY_OBJECT : body, schema, what);
}

const EMPTY_OBJECT = encodeJson({});
