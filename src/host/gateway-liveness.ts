/**
 * Tracks which gateways are alive from their heartbeats on sys.gateway.*.*.
 * A gateway that says bye, or goes silent for GATEWAY_DEAD_AFTER_MS, is
 * reported once as gone, so actors can drop presence its connections owned.
 */
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { GATEWAY_DEAD_AFTER_MS } from '../../protocol/activation.ts';
import { GATEWAY_SIGNAL_WILDCARD, parseGatewaySignalSubject } from '../../protocol/subjects.ts';
import type { Logger } from '../log.ts';

export class GatewayLiveness {
  private readonly lastSeen = new Map<string, number>();
  private sub: Subscription | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly log: Logger,
    private readonly onGone: (gatewayId: string) => void,
    private readonly deadAfterMs: number = GATEWAY_DEAD_AFTER_MS,
  ) {}

  start(): void {
    this.sub = this.nc.subscribe(GATEWAY_SIGNAL_WILDCARD, {
      callback: (err, msg) => {
        if (err) {
          this.log.error({ err }, 'gateway signal subscription failed');
          return;
        }
        try {
          const { gatewayId, signal } = parseGatewaySignalSubject(msg.subject);
          if (signal === 'heartbeat') this.lastSeen.set(gatewayId, Date.now());
          else this.gone(gatewayId, 'bye');
        } catch (err2) {
          this.log.warn({ err: err2, subject: msg.subject }, 'ignoring malformed gateway signal');
        }
      },
    });
    this.timer = setInterval(() => this.sweep(), Math.max(100, Math.floor(this.deadAfterMs / 4)));
    this.timer.unref();
  }

  private sweep(): void {
    const now = Date.now();
    for (const [gatewayId, seenAt] of this.lastSeen) {
      if (now - seenAt > this.deadAfterMs) this.gone(gatewayId, 'silent');
    }
  }

  private gone(gatewayId: string, why: 'bye' | 'silent'): void {
    this.lastSeen.delete(gatewayId);
    this.log.info({ gatewayId, why }, 'gateway gone');
    this.onGone(gatewayId);
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.sub?.unsubscribe();
  }
}
