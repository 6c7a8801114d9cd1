/**
 * Webhooks: endpoints users subscribe to outbound events, and the dispatcher
 * that delivers those events to them, signed per Standard Webhooks.
 */
export { ensureOutboundEventsStream, OUTBOUND_EVENTS_DUPLICATE_WINDOW_MS, OUTBOUND_EVENTS_MAX_AGE_MS } from './outbound-stream.ts';
export { startWebhookDispatcher, type WebhookDispatcher } from './webhook-dispatcher.ts';
export { MAX_ENDPOINTS_PER_USER, WebhookService, type EndpointInput, type WebhookDelivery, type WebhookEndpoint, type WebhookServiceOptions } from './webhook-service.ts';
export { WebhookError, WEBHOOK_ERROR_CODES, type WebhookErrorCode } from './webhook-error.ts';
export { MAX_EVENT_PATTERNS, matchesEventPatterns } from './event-patterns.ts';
export { MAX_URL_CHARS } from './endpoint-url.ts';
export { SecretBox } from './secret-box.ts';
export { deliveryBody } from './event-intake.ts';
