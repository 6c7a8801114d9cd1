/**
 * /v1/agent-sessions: start a session (idempotent by `Idempotency-Key`),
 * list mine, read one, send it a message (a turn), cancel the running turn,
 * approve or reject a tool call that waits, and follow its events as
 * Server-Sent Events. Sessions belong to their creator: everyone else gets
 * 404, as if the session did not exist. A session attached to a document
 * needs access to it. API keys need the `jobs:run` scope (agents run model
 * calls and tools on the owner's behalf, as jobs do). Routes talk to the
 * session actor over NATS (protocol/agent.ts) and never touch its state.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { AGENT_LIMITS, agentMessageReplySchema, agentSessionViewSchema, startAgentReplySchema, type AgentSessionView, type StartAgentRequest } from '../../../protocol/agent.ts';
import { ProtocolError } from '../../../protocol/errors.ts';
import { parseActorId, type ActorId, type DocId } from '../../../protocol/ids.ts';
import { decodeJson, encodeJson } from '../../../protocol/reply.ts';
import { followAgentEvents, type AgentEventFeedDeps, type AgentFeedItem } from '../../agent-sessions/agent-event-feed.ts';
import { AgentSessionOwners, type AgentLogReader } from '../../agent-sessions/agent-session-owner.ts';
import type { AuthEnv, Principal } from '../../auth/principal.ts';
import { decodeCursor, encodeCursor } from '../../documents/index.ts';
import { mintedIdForKey, newMintedId } from '../../ids/index.ts';
import type { Logger } from '../../log.ts';
import type { ActorClient } from '../../placement/actor-client.ts';
import type { AgentSessionPage, AgentSessionCursor } from '../../storage/postgres/agent-session-listing.ts';
import { HttpError } from '../errors.ts';
import { idempotencyKeyOf } from '../idempotency-key.ts';
import { servedModel } from '../served-model.ts';
import { createRouter, type Router } from '../router.ts';
import { approveRouteDef, cancelRouteDef, createRouteDef, eventsRouteDef, getRouteDef, listRouteDef, messageRouteDef } from './agent-session-schemas.ts';
import { eventStreamResponse } from './event-stream-sse.ts';

export interface AgentSessionsRoutesDeps {
  readonly client: ActorClient;
  /** Session logs: owner checks and event replay. */
  readonly log: AgentLogReader;
  readonly feed: Omit<AgentEventFeedDeps, 'log'>;
  /** "My sessions" from the agent_sessions projection. */
  readonly sessions: { list(ownerId: string, opts: { limit: number; after?: AgentSessionCursor | undefined }): Promise<AgentSessionPage> };
  /** The caller (set by the auth middleware in production; tests supply their own). */
  readonly getPrincipal: (c: Context<AuthEnv>) => Principal;
  /** Resolves when the principal may read the document; throws the documents module's 403/404 otherwise. */
  readonly checkDocumentAccess: (principal: Principal, docId: DocId) => Promise<void>;
  /** The models a session may name (as for jobs: 400 `unknown-model` otherwise); any well-formed name when absent. */
  readonly models?: ReadonlySet<string>;
  /** Runs before every route (authentication). */
  readonly middleware?: MiddlewareHandler<AuthEnv>;
  readonly logger: Logger;
}

const EMPTY = new Uint8Array(0);
const FIELD_IN_MESSAGE = /^([A-Za-z]+(?:\.\d+)?):/;

function requireScope(principal: Principal): void {
  if (!principal.scopes.has('jobs:run')) throw new HttpError(403, 'insufficient-scope', 'this API key lacks the jobs:run scope');
}

function parseId(raw: string, field: string): ActorId {
  try {
    return parseActorId(raw);
  } catch (err) {
    throw new HttpError(400, 'invalid-request', `${field}: ${(err as Error).message}`, { field, cause: err });
  }
}

function tooLarge(field: string, text: string, limit: number): void {
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > limit) throw new HttpError(413, 'payload-too-large', `${field} is ${bytes} bytes; the limit is ${limit}`, { field });
}

/** The actor names a bad field at the start of its `invalid-input` message (`tools.2: unknown tool …`): keep it as the 400's field. */
function withField(err: unknown): unknown {
  if (!(err instanceof ProtocolError) || err.code !== 'invalid-input') return err;
  const field = FIELD_IN_MESSAGE.exec(err.message)?.[1];
  return new HttpError(400, 'invalid-input', err.message, { ...(field === undefined ? {} : { field }), cause: err });
}

/** The agent-sessions router, to mount at /v1/agent-sessions. */
export function agentSessionsRoutes(deps: AgentSessionsRoutesDeps): Router {
  const router = createRouter();
  if (deps.middleware !== undefined) router.use('*', deps.middleware);

  const command = async (id: ActorId, name: string, body: Uint8Array): Promise<Uint8Array> => {
    try {
      return (await deps.client.request('agent', id, name, body)).body;
    } catch (err) {
      throw withField(err);
    }
  };

  const owners = new AgentSessionOwners(deps.log);
  /** Resolves for the owner; 404 for everyone else and for sessions that do not exist (read from the log, so a made-up id activates nothing). */
  const requireOwner = async (id: ActorId, principal: Principal): Promise<void> => {
    const owner = await owners.of(id);
    if (owner === null || owner !== principal.userId) throw new ProtocolError('not-found', `agent session ${id} does not exist`);
  };
  const view = (body: Uint8Array): AgentSessionView => decodeJson(body, agentSessionViewSchema, 'agent session');

  router.openapi(createRouteDef, async (c) => {
    const principal = deps.getPrincipal(c);
    requireScope(principal);
    const body = c.req.valid('json');
    if (body.instructions !== undefined) tooLarge('instructions', body.instructions, AGENT_LIMITS.maxInstructionsBytes);
    let docId: DocId | null = null;
    if (body.docId !== undefined) {
      docId = parseId(body.docId, 'docId');
      await deps.checkDocumentAccess(principal, docId);
    }
    const key = idempotencyKeyOf(c.req.valid('header')['idempotency-key'], body.idempotencyKey);
    const id = key === null ? newMintedId('agent') : mintedIdForKey('agent', principal.userId, key);
    const request: StartAgentRequest = {
      ownerId: principal.userId,
      instructions: body.instructions ?? null,
      model: body.model === undefined ? null : servedModel(body.model, deps.models),
      tools: body.tools ?? null,
      docId,
      ...(body.maxSteps === undefined ? {} : { maxSteps: body.maxSteps }),
      ...(body.tokenBudget === undefined ? {} : { tokenBudget: body.tokenBudget }),
    };
    const reply = decodeJson(await command(id, 'start', encodeJson(request)), startAgentReplySchema, 'start reply');
    c.header('Location', `/v1/agent-sessions/${encodeURIComponent(id)}`);
    return reply.created ? c.json(reply, 201) : c.json(reply, 200);
  });

  router.openapi(listRouteDef, async (c) => {
    const principal = deps.getPrincipal(c);
    requireScope(principal);
    const q = c.req.valid('query');
    const page = await deps.sessions.list(principal.userId, { limit: q.limit, after: q.cursor === undefined ? undefined : decodeCursor(q.cursor) });
    const sessions = page.items.map((s) => ({
      ...s,
      status: agentSessionViewSchema.shape.status.parse(s.status),
      createdAt: s.createdAt.toISOString(),
      updatedAt: s.updatedAt.toISOString(),
    }));
    return c.json({ sessions, nextCursor: page.next === null ? null : encodeCursor(page.next) }, 200);
  });

  router.openapi(getRouteDef, async (c) => {
    const principal = deps.getPrincipal(c);
    requireScope(principal);
    const id = parseId(c.req.valid('param').id, 'id');
    await requireOwner(id, principal);
    return c.json(view(await command(id, 'get', EMPTY)), 200);
  });

  router.openapi(messageRouteDef, async (c) => {
    const principal = deps.getPrincipal(c);
    requireScope(principal);
    const id = parseId(c.req.valid('param').id, 'id');
    const { content } = c.req.valid('json');
    tooLarge('content', content, AGENT_LIMITS.maxMessageBytes);
    await requireOwner(id, principal);
    const reply = decodeJson(await command(id, 'message', encodeJson({ content })), agentMessageReplySchema, 'message reply');
    return c.json(reply, 202);
  });

  router.openapi(cancelRouteDef, async (c) => {
    const principal = deps.getPrincipal(c);
    requireScope(principal);
    const id = parseId(c.req.valid('param').id, 'id');
    const body = (c.req.header('content-type') ?? '').includes('json') ? c.req.valid('json') : {};
    await requireOwner(id, principal);
    return c.json(view(await command(id, 'cancel', encodeJson({ by: principal.userId, reason: body.reason ?? null }))), 200);
  });

  router.openapi(approveRouteDef, async (c) => {
    const principal = deps.getPrincipal(c);
    requireScope(principal);
    const id = parseId(c.req.valid('param').id, 'id');
    const body = c.req.valid('json');
    await requireOwner(id, principal);
    const decision = { callId: body.callId, approved: body.approved, comment: body.comment ?? null, by: principal.userId };
    return c.json(view(await command(id, 'approve', encodeJson(decision))), 200);
  });

  router.openapi(eventsRouteDef, async (c) => {
    const principal = deps.getPrincipal(c);
    requireScope(principal);
    const id = parseId(c.req.valid('param').id, 'id');
    const raw = c.req.valid('header')['last-event-id'] ?? c.req.valid('query').lastEventId;
    await requireOwner(id, principal);
    const afterSeq = raw === undefined ? 0 : Number(raw);
    return eventStreamResponse<AgentFeedItem>(c, {
      follow: (opts) => followAgentEvents({ ...deps.feed, log: deps.log }, id, { ...opts, afterSeq }),
      toMessage: (item) => {
        if (item.kind === 'event') return { id: String(item.seq), event: item.event.type, data: JSON.stringify(item.event) };
        return item.data.type === 'token' ? { event: 'token', data: JSON.stringify(item.data.token) } : { event: 'status', data: JSON.stringify(item.data.status) };
      },
      logger: deps.logger,
      bindings: { sessionId: id },
      userId: principal.userId,
    });
  });

  return router;
}
