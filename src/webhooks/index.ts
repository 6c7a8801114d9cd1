/**
 * Webhooks: endpoints users subscribe to outbound events, and the dispatcher
 * that delivers those events to them, signed per Standard Webhooks.
 */
export { ensureOutboundEventsStream, OUTBOUND_EVENTS_DUPLICATE_WINDOW_MS, OUTBOUND_EVENTS_MAX_AGE_MS } from './outbound-stream.ts';
