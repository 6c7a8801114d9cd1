/** Opens the process's NATS connection: reconnects forever, logs every status change. */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { Logger } from '../log.ts';

export async function openNatsConnection(opts: { url: string; name: string; logger: Logger }): Promise<NatsConnection> {
  const log = opts.logger.child({ component: 'nats' });
  const nc = await connect({
    servers: opts.url,
    name: opts.name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    pingInterval: 10_000,
    timeout: 10_000,
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
