/**
 * Inference work queue: the contract between callers (job and agent actors)
 * and inference workers. Layouts and the reasons behind them are in
 * PROTOCOL.md ("Inference").
 *
 *   inference.request.<model-token>.<priority>   work queue (stream LOOM_INFERENCE), body InferenceRequest
 *   inference.dead.<model-token>                 dead letters (stream LOOM_INFERENCE_DLQ), body DeadLetter
 *   actor.<kind>.<id-token>.<replyTo.command>    the worker's result, body InferenceResult (request/reply)
 *   event.<kind>.<id-token>.<tokensTo.event>     streamed tokens, body TokenDelta (fire and forget)
 *   KV loom_inference_cancel, key cancelKey(id)  "cancel this request" (any value)
 *
 * A model token is the model name encoded like an actor id: a name made of
 * `[A-Za-z0-9_-]` is its own token, anything else is `=` + base64url(utf8).
 */
import { z } from 'zod';
import { ProtocolError } from './errors.ts';
import { CURRENT_VERSION, HEADERS, checkVersion } from './headers.ts';
import { idToToken, parseActorId, tokenToId } from './ids.ts';
import { CHAT_LIMITS, chatMessageSchema, toolCallsSchema, toolChoiceSchema, toolsSchema, type ChatMessage, type ToolCall, type ToolChoice, type ToolDefinition } from './inference-chat.ts';
import { decodeJson, encodeJson, type WireMessage } from './reply.ts';

export { CHAT_LIMITS, TOOL_FUNCTION_NAME, type ChatMessage, type ToolCall, type ToolChoice, type ToolDefinition } from './inference-chat.ts';

/** Work-queue stream (retention: work queue) holding every pending request. */
export const INFERENCE_STREAM = 'LOOM_INFERENCE';
/** Subjects INFERENCE_STREAM captures. */
export const INFERENCE_SUBJECTS = 'inference.request.*.*';
/**
 * INFERENCE_STREAM's republish rule: once a request is stored, nats-server
 * publishes its headers alone (no body) on `inference.ring.<model-token>.<priority>`.
 * Workers subscribe there as their doorbell: a ring means a pull now finds
 * the request, and a worker never receives the request's body twice.
 */
export const INFERENCE_RING_REPUBLISH = { src: INFERENCE_SUBJECTS, dest: 'inference.ring.{{wildcard(1)}}.{{wildcard(2)}}', headers_only: true } as const;
/** Dead-letter stream (retention: limits) holding requests that exhausted their deliveries. */
export const INFERENCE_DLQ_STREAM = 'LOOM_INFERENCE_DLQ';
/** Subjects INFERENCE_DLQ_STREAM captures. */
export const INFERENCE_DLQ_SUBJECTS = 'inference.dead.*';
/** KV bucket where callers mark requests cancelled. */
export const INFERENCE_CANCEL_BUCKET = 'loom_inference_cancel';
/** Bucket-wide TTL of cancel marks (nats-server 2.9 ignores per-key TTLs). */
export const INFERENCE_CANCEL_TTL_MS = 3_600_000;
/** JetStream's de-duplication header; requests carry their requestId in it. */
export const MSG_ID_HEADER = 'Nats-Msg-Id';

/** `interactive` is always served before `batch` when both are queued. */
export const INFERENCE_PRIORITIES = ['interactive', 'batch'] as const;
export type InferencePriority = (typeof INFERENCE_PRIORITIES)[number];

export function isInferencePriority(value: string): value is InferencePriority {
  return (INFERENCE_PRIORITIES as readonly string[]).includes(value);
}

/** Longest model name in UTF-8 bytes (its token, inside a consumer name, stays under 255 bytes). */
export const MAX_MODEL_NAME_BYTES = 128;
// eslint-disable-next-line no-control-regex
const CONTROL_OR_SPACE = /[\u0000-\u0020\u007f-\u009f]/;

/**
 * Validates a model name (as the model server names it, e.g. `Qwen/Qwen2.5-7B-Instruct`).
 * @throws ProtocolError `malformed-message` when empty, longer than 128 bytes, or containing whitespace or control characters.
 */
export function parseModelName(raw: string): string {
  if (raw.length === 0 || Buffer.byteLength(raw, 'utf8') > MAX_MODEL_NAME_BYTES || CONTROL_OR_SPACE.test(raw)) {
    throw new ProtocolError('malformed-message', `invalid model name ${JSON.stringify(raw.slice(0, 80))}: 1-${MAX_MODEL_NAME_BYTES} bytes, no whitespace or control characters`);
  }
  return raw;
}

/** The subject token of a model name (same encoding as actor ids). */
export function modelToToken(model: string): string {
  return idToToken(parseActorId(parseModelName(model)));
}

/**
 * Inverse of modelToToken.
 * @throws ProtocolError when the token is not one modelToToken produces.
 */
export function tokenToModel(token: string): string {
  return parseModelName(tokenToId(token));
}

/** `inference.request.<model-token>.<priority>` */
export function inferenceRequestSubject(model: string, priority: InferencePriority): string {
  if (!isInferencePriority(priority)) throw new ProtocolError('invalid-subject', `unknown priority ${JSON.stringify(priority)}`);
  return `inference.request.${modelToToken(model)}.${priority}`;
}

/** `inference.ring.<model-token>.<priority>`: where a stored request rings (INFERENCE_RING_REPUBLISH). */
export function inferenceRingSubject(model: string, priority: InferencePriority): string {
  if (!isInferencePriority(priority)) throw new ProtocolError('invalid-subject', `unknown priority ${JSON.stringify(priority)}`);
  return `inference.ring.${modelToToken(model)}.${priority}`;
}

/** `inference.request.<model-token>.*`: every priority of one model. */
export function inferenceRequestWildcard(model: string): string {
  return `inference.request.${modelToToken(model)}.*`;
}

/** @throws ProtocolError `invalid-subject` when not an inference request subject. */
export function parseInferenceRequestSubject(subject: string): { model: string; priority: InferencePriority } {
  const [a, b, token, priority, ...rest] = subject.split('.');
  if (a !== 'inference' || b !== 'request' || token === undefined || priority === undefined || rest.length > 0) {
    throw new ProtocolError('invalid-subject', `not an inference request subject: ${JSON.stringify(subject.slice(0, 120))}`);
  }
  if (!isInferencePriority(priority)) throw new ProtocolError('invalid-subject', `unknown priority ${JSON.stringify(priority)}`);
  try {
    return { model: tokenToModel(token), priority };
  } catch (err) {
    throw new ProtocolError('invalid-subject', `bad model token in ${JSON.stringify(subject.slice(0, 120))}`, { cause: err });
  }
}

/** `inference.dead.<model-token>` */
export function deadLetterSubject(model: string): string {
  return `inference.dead.${modelToToken(model)}`;
}

/** @throws ProtocolError `invalid-subject`. */
export function parseDeadLetterSubject(subject: string): { model: string } {
  const [a, b, token, ...rest] = subject.split('.');
  if (a !== 'inference' || b !== 'dead' || token === undefined || rest.length > 0) {
    throw new ProtocolError('invalid-subject', `not a dead-letter subject: ${JSON.stringify(subject.slice(0, 120))}`);
  }
  try {
    return { model: tokenToModel(token) };
  } catch (err) {
    throw new ProtocolError('invalid-subject', `bad model token in ${JSON.stringify(subject.slice(0, 120))}`, { cause: err });
  }
}

/** Durable pull consumer serving one model at one priority (filter: that one subject). */
export function inferenceConsumerName(model: string, priority: InferencePriority): string {
  return `inference_${modelToToken(model)}_${priority}`;
}

const REQUEST_ID = /^[A-Za-z0-9_:.-]{1,128}$/;

/**
 * The cancel-bucket key of a request. KV keys may not contain ':', so ids
 * other than `[A-Za-z0-9_-]+` are encoded like actor ids (`=` + base64url).
 */
export function cancelKey(requestId: string): string {
  if (!REQUEST_ID.test(requestId)) throw new ProtocolError('malformed-message', `invalid requestId ${JSON.stringify(requestId.slice(0, 80))}`);
  return idToToken(parseActorId(requestId));
}

/** Limits a request must respect; larger ones are refused before they are queued. */
export const INFERENCE_LIMITS = {
  /** Under nats-server's default max_payload (1 MiB) with room for headers and the dead-letter envelope. */
  maxBodyBytes: 768 * 1024,
  maxMessages: 256,
  maxMessageChars: CHAT_LIMITS.maxMessageChars,
  maxTokens: 1_000_000,
  maxMetaKeys: 32,
  maxMetaStringChars: 512,
} as const;

const COMMAND_NAME = /^[a-z][a-z0-9-]{0,39}$/;
const actorIdSchema = z.string().min(1).refine((v) => {
  try {
    parseActorId(v);
    return true;
  } catch {
    // parseActorId's message is replaced by the schema's own below.
    return false;
  }
}, 'must be 1-200 bytes of well-formed text without control characters');
const metaSchema = z
  .record(z.string().min(1).max(64), z.union([z.string().max(INFERENCE_LIMITS.maxMetaStringChars), z.number().finite()]))
  .refine((m) => Object.keys(m).length <= INFERENCE_LIMITS.maxMetaKeys, `at most ${INFERENCE_LIMITS.maxMetaKeys} keys`);

export type InferenceMeta = Readonly<Record<string, string | number>>;
export type CallerKind = 'job' | 'agent';

/** Body of `inference.request.<model-token>.<priority>`. */
export interface InferenceRequest {
  /** Unique per attempt of the caller's step; also the Nats-Msg-Id (de-duplication window: 2 min). */
  readonly requestId: string;
  readonly model: string;
  readonly messages: readonly ChatMessage[];
  readonly maxTokens?: number;
  readonly temperature?: number;
  readonly responseFormat?: 'text' | 'json';
  /** Tools the model may call (OpenAI format); its calls come back in the result's `toolCalls`. */
  readonly tools?: readonly ToolDefinition[];
  /** OpenAI `tool_choice`; only with `tools`, and a named function must be one of them. */
  readonly toolChoice?: ToolChoice;
  /** Where the result goes: command `actor.<kind>.<id-token>.<command>`. */
  readonly replyTo: { readonly kind: CallerKind; readonly id: string; readonly command: string };
  /** Where streamed tokens go, if anywhere: `event.<kind>.<id-token>.<event>`. */
  readonly tokensTo?: { readonly kind: CallerKind; readonly id: string; readonly event: string };
  /** Echoed on every delta and on the result (e.g. the job step). */
  readonly meta?: InferenceMeta;
}

const callerKind = z.enum(['job', 'agent']);
const nameSchema = z.string().regex(COMMAND_NAME, 'must match [a-z][a-z0-9-]{0,39}');

/** Every field but the conversation (messages, tools), whose parts each encoder checks once (checkedOnce). */
const requestFields = {
  requestId: z.string().regex(REQUEST_ID, 'must be 1-128 of [A-Za-z0-9_:.-]'),
  model: z.string().min(1).refine((m) => {
    try {
      parseModelName(m);
      return true;
    } catch {
      // Replaced by the schema's message below.
      return false;
    }
  }, `must be 1-${MAX_MODEL_NAME_BYTES} bytes without whitespace or control characters`),
  maxTokens: z.number().int().min(1).max(INFERENCE_LIMITS.maxTokens).optional(),
  temperature: z.number().min(0).max(2).optional(),
  responseFormat: z.enum(['text', 'json']).optional(),
  toolChoice: toolChoiceSchema.optional(),
  replyTo: z.object({ kind: callerKind, id: actorIdSchema, command: nameSchema }).strict(),
  tokensTo: z.object({ kind: callerKind, id: actorIdSchema, event: nameSchema }).strict().optional(),
  meta: metaSchema.optional(),
};

/** The whole request, every message included: what a worker checks on receipt. */
export const inferenceRequestSchema: z.ZodType<InferenceRequest> = z
  .object({
    ...requestFields,
    messages: z.array(chatMessageSchema).min(1).max(INFERENCE_LIMITS.maxMessages),
    tools: toolsSchema.optional(),
  })
  .strict()
  .superRefine(checkToolConsistency);

/** The request with its conversation's parts unchecked (they are checked one by one, once each). */
const requestEnvelopeSchema = z
  .object({
    ...requestFields,
    messages: z.array(z.unknown()).min(1).max(INFERENCE_LIMITS.maxMessages),
    tools: z.array(z.unknown()).optional(),
  })
  .strict();

/** What a model server would refuse with a 400 is refused here, before the request is queued. */
function checkToolConsistency(r: Pick<InferenceRequest, 'messages' | 'tools' | 'toolChoice'>, ctx: z.RefinementCtx): void {
  const issue = toolConsistencyIssue(r);
  if (issue !== null) ctx.addIssue({ code: z.ZodIssueCode.custom, path: [...issue.path], message: issue.message });
}

/** The first call/answer mismatch of a request: a toolChoice without its tool, a tool message answering no earlier call. */
function toolConsistencyIssue(r: Pick<InferenceRequest, 'messages' | 'tools' | 'toolChoice'>): { readonly path: readonly (string | number)[]; readonly message: string } | null {
  if (r.toolChoice !== undefined) {
    if (r.tools === undefined) return { path: ['toolChoice'], message: 'needs tools' };
    const choice = r.toolChoice;
    if (typeof choice === 'object' && !r.tools.some((t) => t.function.name === choice.function.name)) {
      return { path: ['toolChoice', 'function', 'name'], message: 'must name one of the tools' };
    }
  }
  // Each tool message answers a call of an earlier assistant message.
  const called = new Set<string>();
  for (const [i, m] of r.messages.entries()) {
    if (m.role === 'assistant') for (const c of m.toolCalls ?? []) called.add(c.id);
    if (m.role === 'tool' && !called.has(m.toolCallId)) return { path: ['messages', i, 'toolCallId'], message: 'answers no earlier assistant tool call' };
  }
  return null;
}

/**
 * The wire form of a request: JSON body, `Loom-Version` and `Nats-Msg-Id` headers.
 *
 * A session's next request repeats its earlier messages, so each message
 * object (and each tools array) is checked the first time it is encoded and
 * then frozen: a later request that carries the same object skips its check
 * (checkedOnce). Workers still check everything on receipt.
 *
 * @throws ProtocolError `malformed-message` when the request breaks the schema or size limit.
 */
export function encodeInferenceRequest(request: InferenceRequest): WireMessage {
  check(requestEnvelopeSchema, request, []);
  request.messages.forEach((m, i) => checkedOnce(m, chatMessageSchema, ['messages', i]));
  if (request.tools !== undefined) checkedOnce(request.tools, toolsSchema, ['tools']);
  const consistency = toolConsistencyIssue(request);
  if (consistency !== null) throw requestError(consistency.path, consistency.message);
  const body = encodeJson(request);
  if (body.byteLength > INFERENCE_LIMITS.maxBodyBytes) {
    throw new ProtocolError('malformed-message', `inference request is ${body.byteLength} bytes; the limit is ${INFERENCE_LIMITS.maxBodyBytes}`);
  }
  return { headers: { [HEADERS.version]: String(CURRENT_VERSION), [MSG_ID_HEADER]: request.requestId }, body };
}

/** Conversation parts already checked by this process; frozen when added, so they cannot change afterwards. */
const checkedParts = new WeakSet<object>();

function checkedOnce(value: object, schema: z.ZodTypeAny, path: readonly (string | number)[]): void {
  if (checkedParts.has(value)) return;
  check(schema, value, path);
  deepFreeze(value);
  checkedParts.add(value);
}

function check(schema: z.ZodTypeAny, value: unknown, path: readonly (string | number)[]): void {
  const checked = schema.safeParse(value);
  if (checked.success) return;
  const issue = checked.error.issues[0];
  throw issue === undefined ? new ProtocolError('malformed-message', 'inference request: invalid') : requestError([...path, ...issue.path], issue.message);
}

function requestError(path: readonly (string | number)[], message: string): ProtocolError {
  return new ProtocolError('malformed-message', `inference request: ${path.join('.') || 'body'} ${message}`);
}

/** Plain JSON data only (what passed a schema): objects and arrays, all the way down. */
function deepFreeze(value: unknown): void {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return;
  Object.freeze(value);
  for (const child of Object.values(value)) deepFreeze(child);
}

/**
 * Validates a work-queue message: size, version header, then shape.
 * @throws ProtocolError `malformed-message` or `unsupported-version`.
 */
export function decodeInferenceRequest(message: WireMessage): InferenceRequest {
  if (message.body.byteLength > INFERENCE_LIMITS.maxBodyBytes) {
    throw new ProtocolError('malformed-message', `inference request is ${message.body.byteLength} bytes; the limit is ${INFERENCE_LIMITS.maxBodyBytes}`);
  }
  checkVersion(message.headers);
  return decodeJson(message.body, inferenceRequestSchema, 'inference request');
}

/** Error codes a worker reports in a failed InferenceResult. */
export const INFERENCE_ERROR_CODES = {
  /** The model server refused the request (4xx other than 408/429); the message names the status. */
  modelRejected: 'model-rejected',
  /** The model stopped with finish_reason `content_filter`. */
  contentRefused: 'content-refused',
  /** The request decoded but cannot be served here (e.g. its model differs from its subject's). */
  invalidRequest: 'invalid-request',
  /** The caller cancelled it (cancel bucket) before or during the call. */
  cancelled: 'cancelled',
  /** Retryable failures exhausted the deliveries; the request is in LOOM_INFERENCE_DLQ. */
  deadLettered: 'dead-lettered',
  /** The model's answer broke the result's limits (too many tool calls, oversized arguments). */
  invalidOutput: 'invalid-output',
} as const;
export type InferenceErrorCode = (typeof INFERENCE_ERROR_CODES)[keyof typeof INFERENCE_ERROR_CODES];
const errorCodeSchema = z.enum(['model-rejected', 'content-refused', 'invalid-request', 'cancelled', 'dead-lettered', 'invalid-output']);

/** Token and latency accounting of one successful call. */
export interface InferenceUsage {
  readonly model: string;
  readonly promptTokens: number;
  readonly completionTokens: number;
  /** From the start of the attempt's HTTP call to the first content token (= durationMs when none came). */
  readonly timeToFirstTokenMs: number;
  /** The attempt's HTTP call, start to end of stream. */
  readonly durationMs: number;
}

export type InferenceResult =
  | {
      readonly requestId: string;
      readonly ok: true;
      readonly text: string;
      /** The calls the model asked for, in its order (empty when it answered in text). */
      readonly toolCalls: readonly ToolCall[];
      /** The model server's finish_reason (`stop`, `length`, `tool_calls`, ...). */
      readonly finishReason: string;
      readonly usage: InferenceUsage;
      /** Delivery of the work-queue message that produced this result (1 = first). */
      readonly attempt: number;
      readonly meta: InferenceMeta;
    }
  | {
      readonly requestId: string;
      readonly ok: false;
      readonly error: { readonly code: InferenceErrorCode; readonly message: string; readonly terminal: boolean };
      readonly attempt: number;
      readonly meta: InferenceMeta;
    };

const count = z.number().int().nonnegative();
export const inferenceResultSchema: z.ZodType<InferenceResult, z.ZodTypeDef, unknown> = z.discriminatedUnion('ok', [
  z.object({
    requestId: z.string(),
    ok: z.literal(true),
    text: z.string(),
    // Results from workers older than tool calling carry none.
    toolCalls: toolCallsSchema.default([]),
    finishReason: z.string(),
    usage: z.object({ model: z.string(), promptTokens: count, completionTokens: count, timeToFirstTokenMs: count, durationMs: count }),
    attempt: z.number().int().min(1),
    meta: z.record(z.union([z.string(), z.number()])),
  }),
  z.object({
    requestId: z.string(),
    ok: z.literal(false),
    error: z.object({ code: errorCodeSchema, message: z.string(), terminal: z.boolean() }),
    attempt: z.number().int().min(1),
    meta: z.record(z.union([z.string(), z.number()])),
  }),
]);

/** Wire form of a result command (JSON, `Loom-Version: 1`). */
export function encodeInferenceResult(result: InferenceResult): WireMessage {
  return { headers: { [HEADERS.version]: String(CURRENT_VERSION) }, body: encodeJson(result) };
}

/**
 * What the caller's `replyTo.command` handler runs on the body.
 * @throws ProtocolError `malformed-message` or `unsupported-version`.
 */
export function decodeInferenceResult(message: WireMessage): InferenceResult {
  checkVersion(message.headers);
  return decodeJson(message.body, inferenceResultSchema, 'inference result');
}

/** One streamed piece of the answer on `event.<kind>.<id-token>.<tokensTo.event>`. */
export interface TokenDelta {
  readonly requestId: string;
  /** 0-based, per attempt: a redelivered request streams again from 0 with a higher `attempt`. */
  readonly index: number;
  readonly delta: string;
  readonly attempt: number;
  readonly meta: InferenceMeta;
}

export const tokenDeltaSchema: z.ZodType<TokenDelta> = z.object({
  requestId: z.string(),
  index: count,
  delta: z.string(),
  attempt: z.number().int().min(1),
  meta: z.record(z.union([z.string(), z.number()])),
});

export function encodeTokenDelta(delta: TokenDelta): WireMessage {
  return { headers: { [HEADERS.version]: String(CURRENT_VERSION) }, body: encodeJson(delta) };
}

/** @throws ProtocolError `malformed-message` or `unsupported-version`. */
export function decodeTokenDelta(message: WireMessage): TokenDelta {
  checkVersion(message.headers);
  return decodeJson(message.body, tokenDeltaSchema, 'token delta');
}

/** Body of `inference.dead.<model-token>`: the request as it was queued, and why it died. */
export interface DeadLetter {
  readonly request: InferenceRequest;
  readonly priority: InferencePriority;
  readonly cause: { readonly code: string; readonly message: string };
  /** Deliveries the work queue made. */
  readonly attempts: number;
  /** ISO 8601. */
  readonly deadLetteredAt: string;
}

export const deadLetterSchema: z.ZodType<DeadLetter> = z.object({
  request: inferenceRequestSchema,
  priority: z.enum(INFERENCE_PRIORITIES),
  cause: z.object({ code: z.string(), message: z.string() }),
  attempts: z.number().int().min(1),
  deadLetteredAt: z.string(),
});

/** Wire form of a dead letter; `Nats-Msg-Id` is the requestId, so a repeated dead-lettering is dropped. */
export function encodeDeadLetter(letter: DeadLetter): WireMessage {
  return {
    headers: { [HEADERS.version]: String(CURRENT_VERSION), [MSG_ID_HEADER]: `dead:${letter.request.requestId}` },
    body: encodeJson(letter),
  };
}

/** @throws ProtocolError `malformed-message` or `unsupported-version`. */
export function decodeDeadLetter(message: WireMessage): DeadLetter {
  checkVersion(message.headers);
  return decodeJson(message.body, deadLetterSchema, 'dead letter');
}
