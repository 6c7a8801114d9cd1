/**
 * Standard Webhooks signing: `v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>`,
 * one entry per secret that signs now, space-separated (during a rotation
 * overlap both the new and the previous secret sign, so receivers holding
 * either verify). `timestamp` is in whole seconds.
 */
import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';
import { secretKeyBytes } from './secret-box.ts';

export interface SignedHeaders {
  readonly 'webhook-id': string;
  readonly 'webhook-timestamp': string;
  readonly 'webhook-signature': string;
}

/** A `whsec_…` secret as an HMAC key: decode it once per endpoint, not once per delivery. */
export function signingKey(secret: string): KeyObject {
  return createSecretKey(secretKeyBytes(secret));
}

export function signWebhook(opts: { id: string; timestampS: number; body: string; secrets: readonly (string | KeyObject)[] }): SignedHeaders {
  const timestamp = String(opts.timestampS);
  const signed = `${opts.id}.${timestamp}.${opts.body}`;
  const signatures = opts.secrets.map(
    (s) => `v1,${createHmac('sha256', typeof s === 'string' ? secretKeyBytes(s) : s).update(signed).digest('base64')}`,
  );
  return { 'webhook-id': opts.id, 'webhook-timestamp': timestamp, 'webhook-signature': signatures.join(' ') };
}
