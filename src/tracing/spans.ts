/**
 * Spans around Loom's units of work: an HTTP request, a WebSocket frame, an
 * actor's mailbox batch, an inference request. {@link inSpan} runs the work
 * inside the span's context, so NATS messages it sends carry the span as
 * their parent (trace-context.ts); with tracing off it only calls the work.
 */
import { context, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Link } from '@opentelemetry/api';
import { TRACER_NAME, tracingEnabled } from './tracing.ts';

export { SpanKind };

export interface SpanOptions {
  readonly kind: SpanKind;
  readonly attributes?: Attributes;
  /** Parent context (e.g. from a message's headers); default: the active one. */
  readonly parent?: Context;
  /** Other messages this work handles (an actor batch from several traces). */
  readonly links?: Link[];
}

/**
 * Runs `work` in a new span that ends when it returns or its promise settles;
 * a throw or rejection marks the span as an error and passes through.
 */
export function inSpan<T>(name: string, opts: SpanOptions, work: () => T): T {
  if (!tracingEnabled()) return work();
  const parent = opts.parent ?? context.active();
  const span = trace.getTracer(TRACER_NAME).startSpan(name, { kind: opts.kind, ...(opts.attributes ? { attributes: opts.attributes } : {}), ...(opts.links ? { links: opts.links } : {}) }, parent);
  const fail = (err: unknown) => {
    span.recordException(err instanceof Error ? err : String(err));
    span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
    span.end();
  };
  let result: T;
  try {
    result = context.with(trace.setSpan(parent, span), work);
  } catch (err) {
    fail(err);
    throw err;
  }
  if (result instanceof Promise) {
    return result.then(
      (value: unknown) => {
        span.end();
        return value;
      },
      (err: unknown) => {
        fail(err);
        throw err;
      },
    ) as T;
  }
  span.end();
  return result;
}

/** Sets an attribute on the active span (e.g. the HTTP status once known); nothing when tracing is off. */
export function setActiveSpanAttributes(attributes: Attributes): void {
  if (!tracingEnabled()) return;
  trace.getActiveSpan()?.setAttributes(attributes);
}

/** A link to the span a message's context names, for work that handles several messages at once. */
export function linkTo(ctx: Context): Link | undefined {
  const spanContext = trace.getSpanContext(ctx);
  return spanContext === undefined ? undefined : { context: spanContext };
}
