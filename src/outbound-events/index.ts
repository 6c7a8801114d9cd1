/**
 * Outbound event sources (issue 9): the relays that record Loom's facts on
 * LOOM_OUTBOUND_EVENTS (protocol/outbound-events.ts) from the job, agent and
 * document logs and from the PostgreSQL outbox. The webhook dispatcher
 * (src/webhooks/) delivers from that stream.
 */
export { startOutboundEventSources, type OutboundSources, type OutboundSourcesOptions } from './outbound-sources.ts';
export { logEventId } from './event-id.ts';
