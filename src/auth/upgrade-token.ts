/**
 * Credentials on a WebSocket upgrade, and the Origin check. Browsers cannot
 * set headers on `new WebSocket()`, so besides `Authorization: Bearer …` and
 * `X-Api-Key` a token may come as the `token` query parameter (what
 * y-websocket's `params: { token }` sends) or as a subprotocol entry
 * `loom.bearer.<token>` offered next to `loom` (JWTs and API keys only use
 * characters a subprotocol token allows). The server then selects `loom`,
 * never the entry carrying the secret.
 */
import type { IncomingHttpHeaders } from 'node:http';

/** The subprotocol the gateway selects when a client offers one. */
export const LOOM_SUBPROTOCOL = 'loom';
/** Subprotocol entries starting with this carry a token. */
export const BEARER_SUBPROTOCOL_PREFIX = 'loom.bearer.';
/** Query parameter carrying a token (y-websocket `params`). */
export const TOKEN_QUERY_PARAM = 'token';

const BEARER = /^Bearer[ \t]+(\S+)\s*$/i;

/** Where {@link extractUpgradeToken} found the token. */
export type TokenSource = 'authorization' | 'x-api-key' | 'subprotocol' | 'query';

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/**
 * The token of a bearer `Authorization` header value, or null when the header
 * is absent. A present header in another scheme yields `''`, which no
 * credential matches (so it is refused rather than silently ignored).
 */
export function bearerToken(authorization: string | undefined): string | null {
  if (authorization === undefined) return null;
  return BEARER.exec(authorization)?.[1] ?? '';
}

/**
 * Finds the credential of an upgrade request: the Authorization header, then
 * X-Api-Key, then a `loom.bearer.<token>` subprotocol, then `?token=`.
 * @returns the raw token (hand it to `authenticateToken`) and where it was, or null when there is none.
 * @example
 *   const found = extractUpgradeToken(req.headers, url);
 *   if (found === null) throw new AccessDeniedError(401, 'no token');
 *   const principal = await auth.authenticateToken(found.token);
 */
export function extractUpgradeToken(headers: IncomingHttpHeaders, url: URL): { token: string; source: TokenSource } | null {
  const bearer = bearerToken(first(headers.authorization));
  if (bearer !== null) return { token: bearer, source: 'authorization' };
  const apiKey = first(headers['x-api-key'])?.trim();
  if (apiKey !== undefined && apiKey !== '') return { token: apiKey, source: 'x-api-key' };
  const protocols = (first(headers['sec-websocket-protocol']) ?? '').split(',').map((p) => p.trim());
  const carried = protocols.find((p) => p.startsWith(BEARER_SUBPROTOCOL_PREFIX));
  if (carried !== undefined) return { token: carried.slice(BEARER_SUBPROTOCOL_PREFIX.length), source: 'subprotocol' };
  const query = url.searchParams.get(TOKEN_QUERY_PARAM);
  if (query !== null && query !== '') return { token: query, source: 'query' };
  return null;
}

/**
 * For ws's `handleProtocols`: selects `loom` when offered, never a token-carrying entry.
 * @returns the protocol to answer with, or false to answer with none.
 */
export function selectSubprotocol(offered: ReadonlySet<string>): string | false {
  return offered.has(LOOM_SUBPROTOCOL) ? LOOM_SUBPROTOCOL : false;
}

/** By a scan from the end: `/\/+$/` is quadratic in a run of slashes, and a 16 KB Origin header of them cost 0.37 s of CPU per upgrade. */
function withoutTrailingSlashes(text: string): string {
  let end = text.length;
  while (end > 0 && text.charCodeAt(end - 1) === 0x2f) end--;
  return text.slice(0, end);
}

/**
 * Whether a browser Origin may open a WebSocket. No Origin header (a
 * non-browser client) passes: such clients must still present a token.
 * Otherwise the origin must be listed exactly (case-insensitive, no trailing
 * slash), the list must contain `*`, or the origin must be the request's own
 * host (same-origin pages).
 */
export function isOriginAllowed(headers: IncomingHttpHeaders, allowed: readonly string[]): boolean {
  const origin = first(headers.origin);
  if (origin === undefined) return true;
  const normalised = withoutTrailingSlashes(origin.trim()).toLowerCase();
  if (allowed.includes('*')) return true;
  if (allowed.some((a) => withoutTrailingSlashes(a.trim()).toLowerCase() === normalised)) return true;
  // An Origin that is not a URL (e.g. "null" from sandboxed frames) matches no host.
  if (!URL.canParse(normalised)) return false;
  return new URL(normalised).host === (first(headers.host) ?? '').toLowerCase();
}
