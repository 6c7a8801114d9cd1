/**
 * socket-heartbeat.ts: the open sockets of one WebSocket endpoint, pinged on
 * an interval. A socket that has not answered the previous ping (no pong
 * since) is terminated; stop() closes the rest with one code and reason.
 * Both /collab and /ws keep their connections this way.
 */
import type { CloseCode } from '../../protocol/errors.ts';
import type { Logger } from '../log.ts';

/** A connection the heartbeat can probe; `alive` is set back to true by the connection's pong handler. */
export interface HeartbeatMember {
  readonly connId: string;
  alive: boolean;
  ping(): void;
  /** Kills the socket without a close handshake. */
  terminate(): void;
  close(code: CloseCode, reason: string): void;
}

export class SocketHeartbeat<C extends HeartbeatMember> {
  readonly #members = new Set<C>();
  #timer: NodeJS.Timeout | undefined;

  /**
   * @param intervalMs time between pings; a socket silent for one interval is terminated at the next
   * @param unresponsiveMessage the info log line for a terminated socket
   */
  constructor(
    private readonly opts: { intervalMs: number; log: Logger; unresponsiveMessage: string },
  ) {}

  get size(): number {
    return this.#members.size;
  }

  /** A snapshot of the open connections. */
  members(): C[] {
    return [...this.#members];
  }

  start(): void {
    this.#timer = setInterval(() => this.#pingAll(), this.opts.intervalMs);
    this.#timer.unref();
  }

  add(conn: C): void {
    this.#members.add(conn);
  }

  delete(conn: C): void {
    this.#members.delete(conn);
  }

  /** Stops pinging and closes every socket with the given code and reason. */
  closeAll(code: CloseCode, reason: string): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    for (const conn of this.#members) conn.close(code, reason);
    this.#members.clear();
  }

  #pingAll(): void {
    for (const conn of this.#members) {
      if (!conn.alive) {
        this.opts.log.info({ connId: conn.connId }, this.opts.unresponsiveMessage);
        conn.terminate();
        this.#members.delete(conn);
        continue;
      }
      conn.alive = false;
      conn.ping();
    }
  }
}
