/**
 * Connection limits of one gateway process, shared by /collab and /ws: at
 * most `maxPerIp` open sockets per client address (counted from the upgrade,
 * before authentication, so unauthenticated floods are bounded too) and
 * `maxPerUser` per authenticated user (API keys count for their owner).
 * A slot is held until the socket's TCP connection is gone. 0 = no limit.
 * Per process, not per cluster: a user may hold `maxPerUser` on each gateway.
 */
import type { IncomingMessage } from 'node:http';
import { WebSocket } from 'ws';

export interface ConnectionLimits {
  readonly maxPerUser: number;
  readonly maxPerIp: number;
  /** Take the address from the last X-Forwarded-For entry (one trusted proxy in front), as HTTP does. */
  readonly trustProxy: boolean;
}

export class ConnectionQuota {
  readonly #perIp = new Map<string, number>();
  readonly #perUser = new Map<string, number>();

  constructor(readonly limits: ConnectionLimits) {}

  /** The client address of an upgrade request (see LOOM_TRUST_PROXY). */
  clientIp(req: IncomingMessage): string {
    if (this.limits.trustProxy) {
      const header = req.headers['x-forwarded-for'];
      const last = (Array.isArray(header) ? header.at(-1) : header)?.split(',').at(-1)?.trim();
      if (last !== undefined && last !== '') return last.slice(0, 64);
    }
    return req.socket.remoteAddress ?? 'unknown';
  }

  /** Holds a slot of the address until the socket closes. @returns false when the address is at its limit. */
  holdForIp(ws: WebSocket, ip: string): boolean {
    return this.#hold(this.#perIp, this.limits.maxPerIp, ws, ip);
  }

  /** Holds a slot of the user until the socket closes. @returns false when the user is at its limit. */
  holdForUser(ws: WebSocket, userId: string): boolean {
    return this.#hold(this.#perUser, this.limits.maxPerUser, ws, userId);
  }

  /** Open sockets counted for an address. */
  countForIp(ip: string): number {
    return this.#perIp.get(ip) ?? 0;
  }

  #hold(counts: Map<string, number>, max: number, ws: WebSocket, key: string): boolean {
    // Closed while it was being authenticated: it holds nothing, and 'close' will not fire again.
    if (ws.readyState === WebSocket.CLOSED) return true;
    const held = counts.get(key) ?? 0;
    if (max > 0 && held >= max) return false;
    counts.set(key, held + 1);
    ws.once('close', () => {
      const left = (counts.get(key) ?? 1) - 1;
      if (left <= 0) counts.delete(key);
      else counts.set(key, left);
    });
    return true;
  }
}
