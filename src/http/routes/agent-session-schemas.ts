/**
 * The /v1/agent-sessions route definitions: the zod schemas that validate
 * each request (a 400 names the field) and describe it in /openapi.json.
 * The handlers are in agent-sessions.ts.
 */
import { createRoute, z } from '@hono/zod-openapi';
import { AGENT_TOOL_NAME } from '../../../protocol/agent-events.ts';
import { AGENT_LIMITS, AGENT_STATUSES, agentSessionViewSchema, agentUsageSchema } from '../../../protocol/agent.ts';
import { IDEMPOTENCY_KEY_PATTERN } from '../../../protocol/job.ts';
import { errorResponses, jsonContent, SECURITY } from '../router.ts';
import { safeText } from '../safe-text.ts';

const TAGS = ['agent-sessions'];
const EVENT_ID = /^\d{1,16}$/;

export const sessionParams = z.object({ id: safeText().min(1).max(200).openapi({ description: 'Session id', example: 'agent_3k2mx7q4d5c6b7a8e9f0g1h2j3' }) });

export const createSessionBody = z
  .object({
    instructions: safeText().optional().openapi({ description: `The system prompt; at most ${AGENT_LIMITS.maxInstructionsBytes} bytes (413 above)` }),
    model: safeText()
      .min(1)
      .max(128)
      .regex(/^[^\s\u0000-\u001f\u007f-\u009f]+$/, 'must have no whitespace or control characters')
      .optional()
      .openapi({ description: "Omit for the server's agent model" }),
    tools: z
      .array(z.string().regex(AGENT_TOOL_NAME, 'must match [A-Za-z0-9_-]{1,64}'))
      .max(AGENT_LIMITS.maxTools)
      .optional()
      .openapi({ description: 'Tool names; omit for every built-in tool. A name no tool answers to is refused (400 naming tools.N)', example: ['doc_search', 'doc_edit'] }),
    docId: safeText().min(1).max(200).optional().openapi({ description: 'The document the session works on (needs access to it)' }),
    maxSteps: z.number().int().min(1).max(AGENT_LIMITS.maxStepsCeiling).optional().openapi({ description: `Model calls per turn; default ${AGENT_LIMITS.defaultMaxSteps}` }),
    tokenBudget: z.number().int().min(AGENT_LIMITS.minTokenBudget).max(AGENT_LIMITS.maxTokenBudget).optional().openapi({
      description: `Estimated transcript tokens before older turns are summarised; default ${AGENT_LIMITS.defaultTokenBudget}`,
    }),
    idempotencyKey: z.string().regex(IDEMPOTENCY_KEY_PATTERN, 'must be 1-255 printable ASCII characters').optional().openapi({
      description: 'Same key (per owner) = same session. The Idempotency-Key header works too.',
    }),
  })
  .strict()
  .openapi('CreateAgentSession');

export const sessionViewSchema = agentSessionViewSchema.openapi('AgentSession');
const createdSchema = z.object({ created: z.boolean(), session: sessionViewSchema }).openapi('CreatedAgentSession');

export const sessionSummarySchema = z
  .object({
    id: z.string(),
    status: z.enum(AGENT_STATUSES),
    model: z.string(),
    docId: z.string().nullable(),
    title: z.string().nullable().openapi({ description: 'The first message, trimmed' }),
    turns: z.number().int(),
    usage: agentUsageSchema,
    lastSeq: z.number().int(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .openapi('AgentSessionSummary');
const pageSchema = z.object({ sessions: z.array(sessionSummarySchema), nextCursor: z.string().nullable() }).openapi('AgentSessionPage');

export const messageBody = z
  .object({ content: safeText().min(1).openapi({ description: `The user's message; at most ${AGENT_LIMITS.maxMessageBytes} bytes of UTF-8 (413 above)` }) })
  .strict()
  .openapi('AgentMessage');

export const createRouteDef = createRoute({
  method: 'post',
  path: '/',
  tags: TAGS,
  summary: 'Start an agent session',
  description: 'Returns 201 with the new session, or 200 with the existing one when the idempotency key was used before with the same request (409 with another).',
  security: SECURITY,
  request: {
    headers: z.object({ 'idempotency-key': z.string().regex(IDEMPOTENCY_KEY_PATTERN, 'must be 1-255 printable ASCII characters').optional() }),
    body: { content: { 'application/json': { schema: createSessionBody } }, required: true },
  },
  responses: {
    201: jsonContent(createdSchema, 'Created'),
    200: jsonContent(createdSchema, 'The session this idempotency key created before'),
    ...errorResponses(400, 401, 403, 404, 409, 413, 429, 503),
  },
});

export const listRouteDef = createRoute({
  method: 'get',
  path: '/',
  tags: TAGS,
  summary: 'My agent sessions, newest first',
  security: SECURITY,
  request: {
    query: z.object({
      limit: z.coerce.number().int().min(1).max(100).default(20),
      cursor: safeText().min(1).max(200).optional().openapi({ description: 'nextCursor of the previous page' }),
    }),
  },
  responses: { 200: jsonContent(pageSchema, 'A page of sessions'), ...errorResponses(400, 401, 403, 503) },
});

export const getRouteDef = createRoute({
  method: 'get',
  path: '/{id}',
  tags: TAGS,
  summary: 'A session: status, transcript, pending approvals, usage',
  security: SECURITY,
  request: { params: sessionParams },
  responses: { 200: jsonContent(sessionViewSchema, 'The session'), ...errorResponses(400, 401, 403, 404, 503) },
});

export const messageRouteDef = createRoute({
  method: 'post',
  path: '/{id}/messages',
  tags: TAGS,
  summary: 'Send a message: starts a turn, which runs on its own (follow it on /events)',
  security: SECURITY,
  request: { params: sessionParams, body: { content: { 'application/json': { schema: messageBody } }, required: true } },
  responses: {
    202: jsonContent(z.object({ turnId: z.string() }).openapi('AgentTurnStarted'), 'The turn is durable and running'),
    ...errorResponses(400, 401, 403, 404, 409, 413, 503),
  },
});

export const cancelRouteDef = createRoute({
  method: 'post',
  path: '/{id}/cancel',
  tags: TAGS,
  summary: 'Cancel the running turn: the model call is aborted, running tools are told, the turn ends cancelled',
  security: SECURITY,
  request: {
    params: sessionParams,
    body: { content: { 'application/json': { schema: z.object({ reason: safeText().max(1_000).optional() }).strict().openapi('CancelAgentTurn') } }, required: false },
  },
  responses: { 200: jsonContent(sessionViewSchema, 'The session after the cancel'), ...errorResponses(400, 401, 403, 404, 503) },
});

export const approveRouteDef = createRoute({
  method: 'post',
  path: '/{id}/approve',
  tags: TAGS,
  summary: 'Approve (it runs) or reject (the model is told) a tool call waiting for approval',
  security: SECURITY,
  request: {
    params: sessionParams,
    body: {
      content: {
        'application/json': {
          schema: z
            .object({
              callId: safeText().min(1).max(128).openapi({ description: 'pendingApprovals[].callId' }),
              approved: z.boolean(),
              comment: safeText().max(AGENT_LIMITS.maxCommentChars).optional(),
            })
            .strict()
            .openapi('ApproveAgentToolCall'),
        },
      },
      required: true,
    },
  },
  responses: { 200: jsonContent(sessionViewSchema, 'The session after the decision'), ...errorResponses(400, 401, 403, 404, 409, 503) },
});

export const eventsRouteDef = createRoute({
  method: 'get',
  path: '/{id}/events',
  tags: TAGS,
  summary: "A session's events as Server-Sent Events, resumable with Last-Event-ID",
  description:
    'Each log event (turn-started, model-call-completed, tool-call-started, tool-call-completed, approval-requested, turn-completed, ...) is sent with `id:` = its log sequence and `event:` = its type. ' +
    'Model token deltas come as `event: token` and status changes as `event: status`, both without an id. ' +
    'Reconnect with the `Last-Event-ID` header (or `?lastEventId=`) to get every event after it exactly once. The stream stays open until the client leaves.',
  security: SECURITY,
  request: {
    params: sessionParams,
    headers: z.object({ 'last-event-id': z.string().regex(EVENT_ID, 'must be an event id (a sequence number)').optional() }),
    query: z.object({ lastEventId: z.string().regex(EVENT_ID, 'must be an event id (a sequence number)').optional() }),
  },
  responses: { 200: { description: 'text/event-stream', content: { 'text/event-stream': { schema: z.string() } } }, ...errorResponses(400, 401, 403, 404) },
});
