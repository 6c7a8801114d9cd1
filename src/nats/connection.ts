/**
 * Opens the process's NATS connection: reconnects forever (to any server of
 * a cluster: NATS_URL may list several, and the servers tell the client of
 * the rest), logs every status change. Credentials may ride in the URL (`nats://user:password@host:4222`,
 * or `nats://token@host:4222`); nats.js ignores them there, so they are
 * taken out and passed as options (each role has its own NATS user, see
 * deploy/nats/auth.conf).
 */
import { NatsConnectionImpl, setTransportFactory, type ConnectionOptions, type NatsConnection } from '@nats-io/transport-node';
import { nodeResolveHost } from '@nats-io/transport-node/lib/node_transport.js';
import { CoalescingTransport } from './coalescing-transport.ts';
import type { Logger } from '../log.ts';

/**
 * Splits `user:password@` (or `token@`) off NATS URLs, for nats.js options.
 * `urls` is one URL or a cluster's seeds, comma-separated; credentials found
 * in any of them apply to the connection (nats.js takes one set).
 */
export function natsCredentials(urls: string): { servers: string[]; auth: Pick<ConnectionOptions, 'user' | 'pass' | 'token'> } {
  let auth: Pick<ConnectionOptions, 'user' | 'pass' | 'token'> = {};
  const servers = urls
    .split(',')
    .map((u) => u.trim())
    .filter((u) => u.length > 0)
    .map((url) => {
      if (!URL.canParse(url)) return url;
      const parsed = new URL(url);
      if (parsed.username === '' && parsed.password === '') return url;
      const user = decodeURIComponent(parsed.username);
      const pass = decodeURIComponent(parsed.password);
      parsed.username = '';
      parsed.password = '';
      auth = pass === '' ? { token: user } : { user, pass };
      return parsed.toString().replace(/\/$/, '');
    });
  return { servers, auth };
}

export async function openNatsConnection(opts: { url: string; name: string; logger: Logger }): Promise<NatsConnection> {
  const log = opts.logger.child({ component: 'nats' });
  const { servers, auth } = natsCredentials(opts.url);
  // What transport-node's connect() does, with a transport that writes once
  // per loop turn (coalescing-transport.ts). The factory is global to nats.js
  // and read at every (re)dial; every Loom connection opens here.
  setTransportFactory({ factory: () => new CoalescingTransport(), dnsResolveFn: nodeResolveHost });
  const nc = await NatsConnectionImpl.connect({
    servers,
    ...auth,
    name: opts.name,
    maxReconnectAttempts: -1,
    // A killed node closes its sockets: the client moves to another seed after
    // this wait. A silently dead one (power, partition) is noticed after
    // maxPingOut unanswered pings, 10 s (it was 20 s): actors ride through a
    // node loss for 20-30 s (fenced-subject-log.ts, placement/lease.ts).
    reconnectTimeWait: 250,
    pingInterval: 5_000,
    maxPingOut: 2,
    timeout: 10_000,
    // nats.js otherwise builds an Error per request to keep the caller's stack:
    // ~8% of the gateway's CPU under load. Our errors carry their own context.
    noAsyncTraces: true,
  });
  log.info({ server: nc.getServer() }, 'nats connected');
  void watchStatus(nc, log);
  return nc;
}

async function watchStatus(nc: NatsConnection, log: Logger): Promise<void> {
  for await (const s of nc.status()) {
    switch (s.type) {
      case 'disconnect':
      case 'reconnecting':
        log.warn({ status: s.type }, 'nats connection trouble');
        break;
      case 'reconnect':
        log.info({ server: nc.getServer() }, 'nats reconnected');
        break;
      case 'error':
        log.error({ err: s.error }, 'nats error');
        break;
      default:
        log.debug({ status: s.type }, 'nats status');
    }
  }
}
