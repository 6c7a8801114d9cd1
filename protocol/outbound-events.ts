/**
 * Outbound events: the facts Loom tells the platforms' own systems (webhooks
 * today, any NATS subscriber too). Each is recorded durably on the JetStream
 * stream OUTBOUND_EVENTS_STREAM under `events.out.<type>` before anyone is
 * told; the webhook dispatcher delivers from there.
 *
 *   { "id", "type", "timestamp", "ownerIds", "orderKey", "data" }   JSON, version 1
 *
 * `id` is deterministic for the fact it records (`job:<id>:<seq>`, say,
 * hashed), so a source that records the same fact twice after a crash is
 * collapsed by the stream's duplicate window (it is also the `Nats-Msg-Id`),
 * and a delivery retried after a crash carries the same `webhook-id`.
 * `ownerIds` are the users whose subscriptions may receive it; `orderKey`
 * names the subject whose events must arrive in order (`job:<id>`,
 * `doc:<id>`). `data` carries ids and links, never content or secrets.
 */
import { z } from 'zod';
import { ProtocolError } from './errors.ts';
import { checkVersion, type HeaderMap } from './headers.ts';
import { decodeJson, encodeJson } from './reply.ts';

export const OUTBOUND_EVENTS_STREAM = 'LOOM_OUTBOUND_EVENTS';
export const OUTBOUND_EVENT_SUBJECT_PREFIX = 'events.out';

/** An event body never exceeds this; `emit` steps asking for more are refused. */
export const MAX_OUTBOUND_EVENT_BYTES = 64 * 1024;

/** Event types: lowercase dotted words, e.g. `job.succeeded`, `discovery.completed`. */
export const OUTBOUND_EVENT_TYPE = /^[a-z][a-z0-9-]{0,39}(\.[a-z][a-z0-9-]{0,39}){1,4}$/;

const idSchema = z.string().min(1).max(200);

export const outboundEventSchema = z
  .object({
    id: idSchema,
    type: z.string().regex(OUTBOUND_EVENT_TYPE),
    timestamp: z.string().datetime(),
    ownerIds: z.array(idSchema).min(1).max(1_000),
    orderKey: idSchema,
    data: z.record(z.unknown()),
  })
  .strict();

export type OutboundEvent = z.infer<typeof outboundEventSchema>;

/** `events.out.<type>`: the type's dots become subject tokens, so `events.out.job.>` selects every job event. */
export function outboundEventSubject(type: string): string {
  if (!OUTBOUND_EVENT_TYPE.test(type)) throw new ProtocolError('invalid-subject', `invalid outbound event type ${JSON.stringify(type.slice(0, 80))}`);
  return `${OUTBOUND_EVENT_SUBJECT_PREFIX}.${type}`;
}

export function encodeOutboundEvent(event: OutboundEvent): Uint8Array {
  const body = encodeJson(event);
  if (body.length > MAX_OUTBOUND_EVENT_BYTES) {
    throw new ProtocolError('malformed-message', `outbound event ${event.type}: ${body.length} bytes, over ${MAX_OUTBOUND_EVENT_BYTES}`);
  }
  return body;
}

/** @throws ProtocolError `unsupported-version`, or `malformed-message` for an oversized, non-JSON or ill-shaped body. */
export function decodeOutboundEvent(body: Uint8Array, headers: HeaderMap = {}): OutboundEvent {
  checkVersion(headers);
  if (body.length > MAX_OUTBOUND_EVENT_BYTES) {
    throw new ProtocolError('malformed-message', `outbound event: over ${MAX_OUTBOUND_EVENT_BYTES} bytes`);
  }
  return decodeJson(body, outboundEventSchema, 'outbound event');
}
