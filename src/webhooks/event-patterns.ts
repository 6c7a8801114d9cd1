/**
 * Which event types an endpoint receives. A pattern is an exact type
 * (`job.succeeded`) or ends in `.*`, which stands for exactly one more
 * token: `job.*` matches `job.created` but not the noisy, opt-in
 * `job.step.succeeded` (subscribe to `job.step.*` or the type itself).
 */
import { OUTBOUND_EVENT_TYPE } from '../../protocol/outbound-events.ts';
import { WebhookError } from './webhook-error.ts';

/** Patterns one endpoint may list. */
export const MAX_EVENT_PATTERNS = 50;

const TOKEN = /^[a-z][a-z0-9-]{0,39}$/;

/** @throws WebhookError `invalid-event-pattern` naming `events.N`. */
export function checkEventPatterns(patterns: readonly string[]): string[] {
  if (patterns.length === 0 || patterns.length > MAX_EVENT_PATTERNS) {
    throw new WebhookError('invalid-event-pattern', `events: list 1-${MAX_EVENT_PATTERNS} event types or patterns`, { field: 'events' });
  }
  for (const [i, pattern] of patterns.entries()) {
    const prefix = pattern.endsWith('.*') ? pattern.slice(0, -2) : null;
    const ok = prefix === null ? OUTBOUND_EVENT_TYPE.test(pattern) : prefix.split('.').every((t) => TOKEN.test(t)) && prefix.split('.').length <= 4;
    if (!ok) {
      throw new WebhookError('invalid-event-pattern', `events.${i}: expected an event type like job.succeeded or a pattern like job.*`, { field: `events.${i}` });
    }
  }
  return [...new Set(patterns)];
}

/** Whether `type` is selected by one of `patterns`. */
export function matchesEventPatterns(patterns: readonly string[], type: string): boolean {
  for (const pattern of patterns) {
    if (pattern === type) return true;
    if (pattern.endsWith('.*')) {
      const prefix = pattern.slice(0, -1);
      if (type.startsWith(prefix) && !type.slice(prefix.length).includes('.')) return true;
    }
  }
  return false;
}
