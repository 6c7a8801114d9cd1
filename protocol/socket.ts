/**
 * The multiplexed application WebSocket at `/ws`: JSON text frames, one
 * socket carrying any number of channels. A channel is a job (`job:<id>`)
 * or an agent session (`agent:<id>`): its events (resumable by sequence,
 * like SSE), its model token deltas and, for sessions, status changes.
 * Layouts and close codes are described in PROTOCOL.md.
 *
 * Client -> server:
 *   { "type": "subscribe",   "channel": "job:<id>" | "agent:<id>", "lastEventId"?: "<seq>" }
 *   { "type": "unsubscribe", "channel" }
 *   { "type": "ping" }
 * Server -> client:
 *   { "type": "subscribed",   "channel" }
 *   { "type": "event",        "channel", "id": "<seq>", "event": "<JobEvent | AgentEvent type>", "data": JobEvent | AgentEvent }
 *   { "type": "token",        "channel", "data": TokenDelta }
 *   { "type": "status",       "channel", "data": AgentStatusEvent }   agent channels only
 *   { "type": "end",          "channel", "reason": "job-ended" | "overflow" | "error" }
 *   { "type": "unsubscribed", "channel" }
 *   { "type": "error",        "channel"?, "code", "message" }   a refused subscription; the socket stays open
 *   { "type": "pong" }
 * A frame that is not JSON or breaks the schema closes the socket with 4400,
 * an unknown `type` with 4415, a binary frame with 1003.
 */
import { z } from 'zod';
import { ProtocolError } from './errors.ts';
import { parseActorId, type ActorId } from './ids.ts';

/** Largest client frame, in bytes. */
export const MAX_SOCKET_FRAME_BYTES = 16 * 1024;
/** Channels one socket may follow at once. */
export const MAX_SOCKET_CHANNELS = 100;

export const SOCKET_CLIENT_FRAME_TYPES = ['subscribe', 'unsubscribe', 'ping'] as const;

const channelSchema = z.string().min(5).max(260);
const seqSchema = z.union([z.string().regex(/^\d{1,16}$/), z.number().int().nonnegative()]).transform((v) => Number(v));

export const socketClientFrameSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('subscribe'), channel: channelSchema, lastEventId: seqSchema.optional() }).strict(),
  z.object({ type: z.literal('unsubscribe'), channel: channelSchema }).strict(),
  z.object({ type: z.literal('ping') }).strict(),
]);
export type SocketClientFrame = z.output<typeof socketClientFrameSchema>;

export type SocketServerFrame =
  | { readonly type: 'subscribed'; readonly channel: string }
  | { readonly type: 'event'; readonly channel: string; readonly id: string; readonly event: string; readonly data: unknown }
  | { readonly type: 'token'; readonly channel: string; readonly data: unknown }
  | { readonly type: 'status'; readonly channel: string; readonly data: unknown }
  | { readonly type: 'end'; readonly channel: string; readonly reason: 'job-ended' | 'overflow' | 'error' }
  | { readonly type: 'unsubscribed'; readonly channel: string }
  | { readonly type: 'error'; readonly channel?: string; readonly code: string; readonly message: string }
  | { readonly type: 'pong' };

/** Why a client frame was refused; the gateway closes with 4400 (malformed) or 4415 (unknown type). */
export class SocketFrameError extends Error {
  override readonly name = 'SocketFrameError';
  constructor(
    readonly reason: 'malformed' | 'unknown-type',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** @throws SocketFrameError naming what was wrong. */
export function decodeSocketClientFrame(text: string): SocketClientFrame {
  if (text.length > MAX_SOCKET_FRAME_BYTES) throw new SocketFrameError('malformed', `frame longer than ${MAX_SOCKET_FRAME_BYTES} bytes`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new SocketFrameError('malformed', 'frame is not JSON', { cause: err });
  }
  const type = typeof value === 'object' && value !== null ? (value as { type?: unknown }).type : undefined;
  if (typeof type !== 'string') throw new SocketFrameError('malformed', 'frame needs a string "type"');
  if (!(SOCKET_CLIENT_FRAME_TYPES as readonly string[]).includes(type)) throw new SocketFrameError('unknown-type', `unknown frame type ${JSON.stringify(type.slice(0, 40))}`);
  const parsed = socketClientFrameSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue === undefined || issue.path.length === 0 ? 'frame' : issue.path.join('.');
    throw new SocketFrameError('malformed', `${type} frame: ${where} ${issue?.code === 'unrecognized_keys' ? `has unknown keys ${issue.keys.join(', ')}` : (issue?.message ?? 'invalid')}`);
  }
  return parsed.data;
}

/** `job:<id>` for a job. */
export function jobChannel(id: ActorId): string {
  return `job:${id}`;
}

/**
 * The job a channel names.
 * @throws ProtocolError `invalid-subject` for another kind of channel, `invalid-id` for a bad id.
 */
export function parseJobChannel(channel: string): ActorId {
  if (!channel.startsWith('job:')) throw new ProtocolError('invalid-subject', `unknown channel ${JSON.stringify(channel.slice(0, 60))}; channels are job:<id>`);
  return parseActorId(channel.slice(4));
}

/** `agent:<id>` for an agent session. */
export function agentChannel(id: ActorId): string {
  return `agent:${id}`;
}

/** The kinds of actor a /ws channel can follow. */
export type SocketChannelKind = 'job' | 'agent';

/**
 * The actor a channel names: `job:<id>` or `agent:<id>`.
 * @throws ProtocolError `invalid-subject` for another kind of channel, `invalid-id` for a bad id.
 */
export function parseSocketChannel(channel: string): { readonly kind: SocketChannelKind; readonly id: ActorId } {
  const colon = channel.indexOf(':');
  const kind = channel.slice(0, colon);
  if (colon < 0 || (kind !== 'job' && kind !== 'agent')) {
    throw new ProtocolError('invalid-subject', `unknown channel ${JSON.stringify(channel.slice(0, 60))}; channels are job:<id> or agent:<id>`);
  }
  return { kind, id: parseActorId(channel.slice(colon + 1)) };
}
