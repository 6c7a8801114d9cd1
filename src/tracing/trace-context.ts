/**
 * W3C trace context (`traceparent`, `tracestate`) across NATS hops: injected
 * into the headers of a message sent while a span is active, extracted from
 * a received message's headers (nats.js header objects, or protocol/'s plain
 * maps, whose keys are canonicalised to `Traceparent`). With tracing off,
 * both return at once and nothing is allocated.
 */
import { context, propagation, ROOT_CONTEXT, trace, type Context, type TextMapGetter, type TextMapSetter } from '@opentelemetry/api';
import { headers as natsHeaders, type MsgHdrs } from '@nats-io/transport-node';
import type { HeaderMap } from '../../protocol/headers.ts';
import { tracingEnabled } from './tracing.ts';

const natsSetter: TextMapSetter<MsgHdrs> = {
  set: (carrier, key, value) => carrier.set(key, value),
};

/** Reads either header kind, ignoring case (HTTP-style canonical keys on one side, lowercase W3C names on the other). */
const headerGetter: TextMapGetter<MsgHdrs | HeaderMap> = {
  keys: (carrier) => (isNatsHeaders(carrier) ? [...carrier.keys()] : Object.keys(carrier)),
  get: (carrier, key) => {
    if (isNatsHeaders(carrier)) {
      for (const k of carrier.keys()) if (k.toLowerCase() === key) return carrier.get(k);
      return undefined;
    }
    for (const k of Object.keys(carrier)) if (k.toLowerCase() === key) return carrier[k];
    return undefined;
  },
};

function isNatsHeaders(carrier: MsgHdrs | HeaderMap): carrier is MsgHdrs {
  return typeof (carrier as MsgHdrs).keys === 'function' && typeof (carrier as MsgHdrs).get === 'function';
}

/**
 * Adds the active span's trace context to outgoing NATS headers.
 * @returns `headers` (created when undefined and a span is active); unchanged when tracing is off or no span is active.
 */
export function withTraceHeaders(headers: MsgHdrs | undefined): MsgHdrs | undefined {
  if (!tracingEnabled()) return headers;
  const active = context.active();
  if (trace.getSpanContext(active) === undefined) return headers;
  const out = headers ?? natsHeaders();
  propagation.inject(active, out, natsSetter);
  return out;
}

/** The trace context a received message carries; the root context when it carries none or tracing is off. */
export function traceContextOf(headers: MsgHdrs | HeaderMap | undefined): Context {
  if (!tracingEnabled() || headers === undefined) return ROOT_CONTEXT;
  return propagation.extract(ROOT_CONTEXT, headers, headerGetter);
}
