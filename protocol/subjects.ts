/**
 * Every NATS subject family Loom uses, each with a builder and a parser that
 * invert each other. Nobody else concatenates subject strings.
 *
 *   actor.<kind>.<id-token>.<command>   request/reply to the actor's one live instance
 *   event.<kind>.<id-token>.<event>     facts an actor publishes (fan-out)
 *   log.doc.<id-token>                  a document's durable update log (JetStream)
 *   log.doc.<id-token>.changed          marks the start of a window in which the document changed (same stream)
 *   log.job.<id-token>                  a job's durable event log (JetStream)
 *   log.agent.<id-token>                an agent session's durable event log (JetStream)
 *   sys.activate.<kind>                 "activate this actor" (queue group of actor hosts)
 *   sys.gateway.<gateway-id>.<signal>   gateway liveness (heartbeat | bye)
 *   sys.auth.revoked                    a credential was revoked (every gateway closes its sockets)
 */
import type { AgentEventType } from './agent-events.ts';
import { type AgentCommand, isAgentCommand } from './agent.ts';
import { ProtocolError } from './errors.ts';
import { type ActorId, type ActorKind, idToToken, isActorKind, tokenToId } from './ids.ts';

/** Commands and events use lowercase tokens, multi-word ones joined by '-'. */
const NAME = /^[a-z][a-z0-9-]{0,39}$/;

function assertName(what: string, name: string): void {
  if (!NAME.test(name)) throw new ProtocolError('invalid-subject', `invalid ${what} name ${JSON.stringify(name)}`);
}

function split(subject: string, prefix: string, parts: number): string[] {
  const tokens = subject.split('.');
  if (tokens.length !== parts || tokens[0] !== prefix) {
    throw new ProtocolError('invalid-subject', `not a ${prefix} subject: ${JSON.stringify(subject.slice(0, 120))}`);
  }
  return tokens;
}

function parseKind(token: string | undefined): ActorKind {
  if (token === undefined || !isActorKind(token)) {
    throw new ProtocolError('invalid-subject', `unknown actor kind ${JSON.stringify(token)}`);
  }
  return token;
}

export interface ActorAddress<C extends string = string> {
  readonly kind: ActorKind;
  readonly id: ActorId;
  readonly name: C;
}

/** `actor.<kind>.<token>.<command>` */
export function commandSubject(kind: ActorKind, id: ActorId, command: string): string {
  assertName('command', command);
  return `actor.${kind}.${idToToken(id)}.${command}`;
}

/** Wildcard matching every command of one actor (what its owner subscribes to). */
export function commandWildcard(kind: ActorKind, id: ActorId): string {
  return `actor.${kind}.${idToToken(id)}.*`;
}

export function parseCommandSubject(subject: string): ActorAddress {
  const [, kind, token, command] = split(subject, 'actor', 4);
  assertName('command', command ?? '');
  return { kind: parseKind(kind), id: tokenToId(token ?? ''), name: command ?? '' };
}

/** `event.<kind>.<token>.<event>` */
export function eventSubject(kind: ActorKind, id: ActorId, event: string): string {
  assertName('event', event);
  return `event.${kind}.${idToToken(id)}.${event}`;
}

/** Wildcard matching every event of one actor (what a gateway follows). */
export function eventWildcard(kind: ActorKind, id: ActorId): string {
  return `event.${kind}.${idToToken(id)}.*`;
}

export function parseEventSubject(subject: string): ActorAddress {
  const [, kind, token, event] = split(subject, 'event', 4);
  assertName('event', event ?? '');
  return { kind: parseKind(kind), id: tokenToId(token ?? ''), name: event ?? '' };
}

/** JetStream stream holding every document's update log. */
export const DOC_LOG_STREAM = 'LOOM_DOC_LOG';
/** The subjects DOC_LOG_STREAM captures. */
export const DOC_LOG_SUBJECTS = 'log.doc.>';

/** `log.doc.<token>`: one subject per document inside DOC_LOG_STREAM. */
export function docLogSubject(id: ActorId): string {
  return `log.doc.${idToToken(id)}`;
}

export function parseDocLogSubject(subject: string): ActorId {
  const [, doc, token] = split(subject, 'log', 3);
  if (doc !== 'doc') throw new ProtocolError('invalid-subject', `not a document log subject: ${subject}`);
  return tokenToId(token ?? '');
}

/**
 * The document log stream's republish rule: nats-server publishes every
 * stored update on the document's update event subject
 * (`eventSubject('doc', id, 'update')`), so the actor does not. Change marks
 * (four tokens) do not match `src`.
 */
export const DOC_UPDATE_REPUBLISH = { src: 'log.doc.*', dest: 'event.doc.{{wildcard(1)}}.update' } as const;

/**
 * `log.doc.<token>.changed`: a document's change marks, in DOC_LOG_STREAM
 * beside its updates. The actor host writes one before the first update of
 * each window of LOOM_WEBHOOK_DOC_DEBOUNCE_MS, so the doc.updated relay
 * reads one mark per window instead of every update.
 */
export function docChangeMarkSubject(id: ActorId): string {
  return `log.doc.${idToToken(id)}.changed`;
}

/** Every document's change marks (a consumer filter on DOC_LOG_STREAM). */
export const DOC_CHANGE_MARKS = 'log.doc.*.changed';

export function parseDocChangeMarkSubject(subject: string): ActorId {
  const [, doc, token, changed] = split(subject, 'log', 4);
  if (doc !== 'doc' || changed !== 'changed') throw new ProtocolError('invalid-subject', `not a document change mark subject: ${subject}`);
  return tokenToId(token ?? '');
}

/** JetStream stream holding every job's event log. */
export const JOB_LOG_STREAM = 'LOOM_JOB_LOG';
/** The subjects JOB_LOG_STREAM captures. */
export const JOB_LOG_SUBJECTS = 'log.job.>';

/** `log.job.<token>`: one subject per job inside JOB_LOG_STREAM. */
export function jobLogSubject(id: ActorId): string {
  return `log.job.${idToToken(id)}`;
}

export function parseJobLogSubject(subject: string): ActorId {
  const [, job, token] = split(subject, 'log', 3);
  if (job !== 'job') throw new ProtocolError('invalid-subject', `not a job log subject: ${subject}`);
  return tokenToId(token ?? '');
}

/**
 * KV bucket with the bucket-wide TTL (LOOM_LEASE_TTL_MS): singleton tasks'
 * leases (`task.<name>`) and every actor host's liveness key (`host.<hostId>`).
 */
export const LEASE_BUCKET = 'loom_leases';

/**
 * KV bucket of actor ownership entries, without TTL: key `<kind>.<token>`
 * (leaseKey), value naming the owning host and its liveness incarnation.
 * An entry is valid while that host's liveness key names the same incarnation.
 */
export const OWNER_BUCKET = 'loom_owners';

/** `host.<hostId>` in LEASE_BUCKET: refreshed by the host while it lives (LOOM_INSTANCE_ID's alphabet). */
export function hostLivenessKey(hostId: string): string {
  // A host id is a process id (LOOM_INSTANCE_ID), the same alphabet as a gateway id.
  if (!GATEWAY_ID.test(hostId)) throw new ProtocolError('invalid-id', `invalid host id ${JSON.stringify(hostId)}`);
  return `host.${hostId}`;
}

/** Ownership key of an actor in OWNER_BUCKET: `<kind>.<token>` (both parts are KV-safe). */
export function leaseKey(kind: ActorKind, id: ActorId): string {
  return `${kind}.${idToToken(id)}`;
}

export function parseLeaseKey(key: string): { kind: ActorKind; id: ActorId } {
  const [kind, token, ...rest] = key.split('.');
  if (rest.length > 0 || token === undefined) throw new ProtocolError('invalid-subject', `not a lease key: ${key}`);
  return { kind: parseKind(kind), id: tokenToId(token) };
}

/** `sys.activate.<kind>`: hosts listen in the ACTIVATION_QUEUE group. */
export function activationSubject(kind: ActorKind): string {
  return `sys.activate.${kind}`;
}
export const ACTIVATION_QUEUE = 'loom-actor-hosts';

export const GATEWAY_SIGNALS = ['heartbeat', 'bye'] as const;
export type GatewaySignal = (typeof GATEWAY_SIGNALS)[number];
const GATEWAY_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** `sys.gateway.<gatewayId>.<signal>` */
export function gatewaySignalSubject(gatewayId: string, signal: GatewaySignal): string {
  if (!GATEWAY_ID.test(gatewayId)) throw new ProtocolError('invalid-id', `invalid gateway id ${JSON.stringify(gatewayId)}`);
  return `sys.gateway.${gatewayId}.${signal}`;
}
export const GATEWAY_SIGNAL_WILDCARD = 'sys.gateway.*.*';

export function parseGatewaySignalSubject(subject: string): { gatewayId: string; signal: GatewaySignal } {
  const [, gw, gatewayId, signal] = split(subject, 'sys', 4);
  if (gw !== 'gateway' || gatewayId === undefined || !GATEWAY_ID.test(gatewayId)) {
    throw new ProtocolError('invalid-subject', `not a gateway signal subject: ${subject}`);
  }
  if (!(GATEWAY_SIGNALS as readonly string[]).includes(signal ?? '')) {
    throw new ProtocolError('invalid-subject', `unknown gateway signal ${JSON.stringify(signal)}`);
  }
  return { gatewayId, signal: signal as GatewaySignal };
}

/**
 * `sys.auth.revoked`: a gateway publishes here after revoking an API key or
 * ending sessions (body: protocol/revocation.ts); every gateway subscribes and
 * closes the sockets that credential opened. One fixed subject: there is
 * nothing to parse.
 */
export const CREDENTIAL_REVOKED_SUBJECT = 'sys.auth.revoked';

/** JetStream stream holding every agent session's event log. */
export const AGENT_LOG_STREAM = 'LOOM_AGENT_LOG';
/** The subjects AGENT_LOG_STREAM captures. */
export const AGENT_LOG_SUBJECTS = 'log.agent.>';

/** `log.agent.<token>`: one subject per agent session inside AGENT_LOG_STREAM. */
export function agentLogSubject(id: ActorId): string {
  return `log.agent.${idToToken(id)}`;
}

export function parseAgentLogSubject(subject: string): ActorId {
  const [, agent, token] = split(subject, 'log', 3);
  if (agent !== 'agent') throw new ProtocolError('invalid-subject', `not an agent log subject: ${subject}`);
  return tokenToId(token ?? '');
}

/** `actor.agent.<token>.<command>` for one of the agent commands (protocol/agent.ts). */
export function agentCommandSubject(id: ActorId, command: AgentCommand): string {
  if (!isAgentCommand(command)) throw new ProtocolError('invalid-subject', `unknown agent command ${JSON.stringify(command)}`);
  return commandSubject('agent', id, command);
}

/** @throws ProtocolError `invalid-subject` when not a command subject of an agent session, or an unknown command. */
export function parseAgentCommandSubject(subject: string): { id: ActorId; command: AgentCommand } {
  const { kind, id, name } = parseCommandSubject(subject);
  if (kind !== 'agent' || !isAgentCommand(name)) throw new ProtocolError('invalid-subject', `not an agent command subject: ${JSON.stringify(subject.slice(0, 120))}`);
  return { id, command: name };
}

/** `event.agent.<token>.<event>`: an AgentEvent type, `token` or `status`. */
export function agentEventSubject(id: ActorId, event: AgentEventType | 'token' | 'status'): string {
  return eventSubject('agent', id, event);
}

/** @throws ProtocolError `invalid-subject` when not an event subject of an agent session. */
export function parseAgentEventSubject(subject: string): { id: ActorId; event: string } {
  const { kind, id, name } = parseEventSubject(subject);
  if (kind !== 'agent') throw new ProtocolError('invalid-subject', `not an agent event subject: ${JSON.stringify(subject.slice(0, 120))}`);
  return { id, event: name };
}
