export { observeActivation, observeActorEnded, observeLeaseLost, observeMailboxBatch, type ActivationOutcome } from './actor-metrics.ts';
export { MeteredDocumentLog, MeteredSnapshotStore } from './document-metrics.ts';
export { httpMetrics, matchedRoutePattern } from './http-metrics.ts';
export { observeInferenceOutcome, observeInferenceUsage, setInferencePrices } from './inference-metrics.ts';
export { MeteredJobLog } from './job-metrics.ts';
export { metricsRouter } from './metrics-route.ts';
export { ACTIVITIES_STREAM, startQueueMetrics } from './queue-metrics.ts';
export { PREFIX, registry, startProcessMetrics } from './registry.ts';
export { observeFanOut, socketMeter, type SocketEndpoint, type SocketMeter } from './socket-metrics.ts';
