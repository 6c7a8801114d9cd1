/**
 * Errors the webhook service raises: a bad endpoint (URL, patterns), an
 * endpoint or delivery that is absent or not the caller's (404, never 403:
 * others' endpoints do not exist for you), and a full account.
 */
import { ServiceError, type FailureKind, type ServiceErrorOptions } from '../errors/index.ts';

export const WEBHOOK_ERROR_CODES = {
  'invalid-url': 'invalid',
  'invalid-event-pattern': 'invalid',
  'not-found': 'not-found',
  'too-many-endpoints': 'conflict',
} as const satisfies Record<string, FailureKind>;
export type WebhookErrorCode = keyof typeof WEBHOOK_ERROR_CODES;

export class WebhookError extends ServiceError {
  override readonly name: string = 'WebhookError';
  constructor(code: WebhookErrorCode, message: string, options: ServiceErrorOptions = {}) {
    super(WEBHOOK_ERROR_CODES[code], code, message, options);
  }
}
