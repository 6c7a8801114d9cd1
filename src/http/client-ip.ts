/**
 * The client's IP address for rate limits and the audit log. Behind exactly
 * one trusted proxy (`LOOM_TRUST_PROXY=true`) it is the last X-Forwarded-For
 * entry, the one that proxy appended (earlier entries are client-supplied and
 * forgeable); otherwise the socket's peer address from @hono/node-server.
 */
import type { Context } from 'hono';

/** Returned when no address is known (in-process `app.request()` in tests). */
export const UNKNOWN_IP = 'unknown';

/** The client address of a request. */
export function clientIp(c: Context, trustProxy: boolean): string {
  if (trustProxy) {
    const forwarded = c.req.header('x-forwarded-for');
    const last = forwarded?.split(',').at(-1)?.trim();
    if (last !== undefined && last !== '') return last.slice(0, 64);
  }
  return peerAddress(c.env) ?? UNKNOWN_IP;
}

/** @hono/node-server passes `{ incoming: IncomingMessage }` as the env; read it without trusting its shape. */
function peerAddress(env: unknown): string | undefined {
  if (typeof env !== 'object' || env === null || !('incoming' in env)) return undefined;
  const incoming: unknown = env.incoming;
  if (typeof incoming !== 'object' || incoming === null || !('socket' in incoming)) return undefined;
  const socket: unknown = incoming.socket;
  if (typeof socket !== 'object' || socket === null || !('remoteAddress' in socket)) return undefined;
  return typeof socket.remoteAddress === 'string' ? socket.remoteAddress : undefined;
}
