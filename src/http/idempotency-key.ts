/**
 * The idempotency key of a create request (jobs, agent sessions): clients
 * send it as the `Idempotency-Key` header or as `idempotencyKey` in the body.
 */
import { HttpError } from './errors.ts';

/**
 * The key the request carries, or null when it carries none.
 * @throws HttpError 400 naming `idempotencyKey` when the header and the body name different keys.
 */
export function idempotencyKeyOf(header: string | undefined, body: string | undefined): string | null {
  if (header !== undefined && body !== undefined && header !== body) {
    throw new HttpError(400, 'invalid-request', 'the Idempotency-Key header and body.idempotencyKey differ', { field: 'idempotencyKey' });
  }
  return header ?? body ?? null;
}
