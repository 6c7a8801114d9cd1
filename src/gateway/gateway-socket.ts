/**
 * What every gateway WebSocket connection shares, /collab and /ws alike: the
 * per-connection message rate limit, the pong that keeps it alive for the
 * heartbeat, the slow-consumer rule on send, the credential that opened it
 * (closed with 4401 when its access token expires), and closing exactly once
 * with a close reason that fits a close frame, the TCP connection ending soon
 * after. Subclasses read frames and release their own resources in `onClosed`.
 */
import type { RawData, WebSocket } from 'ws';
import { CLOSE_CODES, type CloseCode } from '../../protocol/errors.ts';
import type { RateLimiter } from '../auth/rate-limiter.ts';
import type { Logger } from '../log.ts';
import { socketMeter, type SocketEndpoint, type SocketMeter } from '../metrics/index.ts';
import { inSpan, SpanKind, tracingEnabled } from '../tracing/index.ts';
import type { HeartbeatMember } from './socket-heartbeat.ts';
import { closeSocket } from './socket-close.ts';
import type { SocketCredential } from './socket-credential.ts';

export interface GatewaySocketDeps {
  /** A socket whose unsent bytes already exceed this is a slow consumer and is closed. */
  readonly maxBufferedBytes: number;
  readonly messageLimiter: RateLimiter | undefined;
  readonly log: Logger;
  /** Which endpoint the socket came in on: the label of its metrics. */
  readonly endpoint: SocketEndpoint;
  /** Who opened the socket; none for anonymous sockets (open access). */
  readonly credential?: SocketCredential | undefined;
}

/** setTimeout's largest delay; a later expiry is re-armed when it fires. */
const MAX_TIMER_MS = 2_147_483_647;

export abstract class GatewaySocket implements HeartbeatMember {
  protected closed = false;
  alive = true;
  #expiry: NodeJS.Timeout | undefined;
  /** Set once the socket counts as open (listen), so closing uncounts it exactly once. */
  #meter: SocketMeter | undefined;

  constructor(
    readonly connId: string,
    protected readonly ws: WebSocket,
    private readonly socketDeps: GatewaySocketDeps,
  ) {}

  get credential(): SocketCredential | undefined {
    return this.socketDeps.credential;
  }

  /** Starts reading: every message passes the rate limit before `onMessage` sees it. */
  protected listen(onMessage: (data: RawData, isBinary: boolean) => void): void {
    const meter = socketMeter(this.socketDeps.endpoint);
    this.#meter = meter;
    meter.opened();
    const endpoint = this.socketDeps.endpoint;
    this.ws.on('message', (data, isBinary) => {
      meter.received();
      if (this.socketDeps.messageLimiter !== undefined && !this.socketDeps.messageLimiter.take(this.connId).ok) {
        return this.close(CLOSE_CODES.rateLimited, 'too many messages; slow down');
      }
      // A frame starts a trace: the NATS requests it causes carry it to the actors.
      if (tracingEnabled()) inSpan(`ws ${endpoint} frame`, { kind: SpanKind.SERVER, attributes: { 'loom.ws.endpoint': endpoint } }, () => onMessage(data, isBinary));
      else onMessage(data, isBinary);
    });
    this.ws.on('pong', () => {
      this.alive = true;
    });
    this.ws.on('close', () => this.closeOnce());
    this.ws.on('error', (err) => this.socketDeps.log.warn({ err }, 'socket error'));
    this.#armExpiry();
  }

  /** Closes the socket when the access token that opened it expires; the client reconnects with a fresh one. */
  #armExpiry(): void {
    const expiresAtMs = this.socketDeps.credential?.expiresAtMs;
    if (expiresAtMs === undefined || this.closed) return;
    const left = expiresAtMs - Date.now();
    if (left <= 0) {
      this.socketDeps.log.info({ connId: this.connId }, 'closing socket: access token expired');
      this.close(CLOSE_CODES.unauthorized, 'access token expired; reconnect with a fresh token');
      return;
    }
    this.#expiry = setTimeout(() => this.#armExpiry(), Math.min(left, MAX_TIMER_MS));
    this.#expiry.unref();
  }

  /** Sends unless the socket is backed up: a backlog already past the limit closes it as a slow consumer. */
  protected transmit(data: Uint8Array | string): void {
    if (this.closed) return;
    if (this.ws.bufferedAmount > this.socketDeps.maxBufferedBytes) {
      this.close(CLOSE_CODES.slowConsumer, 'slow consumer: too many unsent bytes');
      return;
    }
    this.ws.send(data);
    this.#meter?.sent();
  }

  /** Closes with a code and a reason trimmed on a character boundary to what a close frame allows. */
  close(code: CloseCode, reason: string): void {
    if (this.closed) return;
    closeSocket(this.ws, code, reason);
    this.closeOnce();
  }

  ping(): void {
    if (!this.closed) this.ws.ping();
  }

  /** Kills a socket that stopped answering pings. */
  terminate(): void {
    this.ws.terminate();
    this.closeOnce();
  }

  private closeOnce(): void {
    if (this.closed) return;
    this.closed = true;
    this.#meter?.closed();
    this.#meter = undefined;
    clearTimeout(this.#expiry);
    this.socketDeps.messageLimiter?.reset(this.connId);
    this.onClosed();
  }

  /** Releases what the connection holds; runs once, however the socket ended. */
  protected abstract onClosed(): void;
}
