/**
 * Checks an endpoint URL when it is saved: `https` (or `http` with
 * LOOM_WEBHOOK_ALLOW_HTTP), no credentials in it, and not an IP literal of
 * a forbidden range. Names are checked again, resolved, at every delivery.
 */
import { checkLiteralHost } from './address-guard.ts';
import { WebhookError } from './webhook-error.ts';

export const MAX_URL_CHARS = 2_000;

/** @throws WebhookError `invalid-url` (field `url`). */
export function checkEndpointUrl(raw: string, opts: { allowHttp: boolean; allowPrivate: boolean }): string {
  const refuse = (why: string) => new WebhookError('invalid-url', `url: ${why}`, { field: 'url' });
  if (raw.length > MAX_URL_CHARS) throw refuse(`at most ${MAX_URL_CHARS} characters`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw refuse('not an absolute URL');
  }
  if (url.protocol !== 'https:' && !(opts.allowHttp && url.protocol === 'http:')) throw refuse(opts.allowHttp ? 'must be http or https' : 'must be https');
  if (url.username !== '' || url.password !== '') throw refuse('must not carry credentials');
  if (url.hostname === '') throw refuse('needs a host');
  if (!opts.allowPrivate && checkLiteralHost(url.hostname) !== null) throw refuse('points at a private, loopback, link-local or metadata address');
  return url.toString();
}
