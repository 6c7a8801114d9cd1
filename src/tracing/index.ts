export { httpTracing } from './http-tracing.ts';
export { inSpan, linkTo, setActiveSpanAttributes, SpanKind, type SpanOptions } from './spans.ts';
export { traceContextOf, withTraceHeaders } from './trace-context.ts';
export { startTracing, tracingEnabled, type Tracing, type TracingConfig } from './tracing.ts';
