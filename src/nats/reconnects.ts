/**
 * Calls `listener` each time the connection is back after losing its
 * server. Core NATS messages in flight at that moment (published into the
 * dead server, or routed through it) are gone, so whoever relays events
 * uses this to repair what its subscribers may have missed.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from '../log.ts';

export function onReconnect(nc: NatsConnection, log: Logger, listener: () => void): void {
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type !== 'reconnect') continue;
      try {
        listener();
      } catch (err) {
        log.error({ err }, 'reconnect listener failed');
      }
    }
  })();
}
