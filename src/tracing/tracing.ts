/**
 * OpenTelemetry traces through the official SDK, off unless an OTLP endpoint
 * is configured. When on, a NodeTracerProvider is registered globally (the
 * AsyncLocalStorage context manager and the W3C trace-context propagator),
 * spans are batched and sent as OTLP/HTTP JSON to `<endpoint>/v1/traces`,
 * and sampling follows the caller's decision (a `traceparent` that says
 * sampled is kept) or else a ratio of new traces. When off, nothing is
 * registered and the helpers in this folder return before allocating.
 */
import { context, propagation, trace } from '@opentelemetry/api';
import type { Logger } from '../log.ts';

/** Tracing settings: config.tracing. */
export interface TracingConfig {
  /** OTLP/HTTP base URL (e.g. http://otel-collector:4318); undefined = tracing off. */
  readonly otlpEndpoint: string | undefined;
  readonly serviceName: string;
  /** Share of new traces (no sampled parent) recorded, 0-1. */
  readonly sampleRatio: number;
}

export interface Tracing {
  readonly enabled: boolean;
  /** Sends the spans still buffered and stops; resolves even when the collector is gone (logged). */
  shutdown(): Promise<void>;
}

let active = false;

/** Whether spans are recorded in this process: the hot paths test this before building anything. */
export function tracingEnabled(): boolean {
  return active;
}

/** Tracer name of every Loom span (the instrumentation scope). */
export const TRACER_NAME = 'loom';

export async function startTracing(opts: { config: TracingConfig; instanceId: string; roles: readonly string[]; log: Logger }): Promise<Tracing> {
  const endpoint = opts.config.otlpEndpoint;
  if (endpoint === undefined) return { enabled: false, shutdown: async () => undefined };
  // The SDK and its exporter (~15 MB of RSS) are loaded only when tracing is on.
  const [{ OTLPTraceExporter }, { resourceFromAttributes }, { BatchSpanProcessor, NodeTracerProvider, ParentBasedSampler, TraceIdRatioBasedSampler }] = await Promise.all([
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/resources'),
    import('@opentelemetry/sdk-trace-node'),
  ]);
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({
      'service.name': opts.config.serviceName,
      'service.instance.id': opts.instanceId,
      'loom.roles': opts.roles.join(','),
    }),
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(opts.config.sampleRatio) }),
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: `${endpoint.replace(/\/+$/, '')}/v1/traces` }))],
  });
  provider.register();
  active = true;
  opts.log.info({ endpoint, sampleRatio: opts.config.sampleRatio }, 'tracing on');
  return {
    enabled: true,
    async shutdown() {
      active = false;
      try {
        await provider.shutdown();
      } catch (err) {
        opts.log.warn({ err }, 'flushing traces at shutdown failed');
      }
      // Unregistered, so a later start in the same process (tests) registers its own provider.
      trace.disable();
      context.disable();
      propagation.disable();
    },
  };
}
