/**
 * The multiplexed application WebSocket at `/ws` (protocol/socket.ts): one
 * socket per client following any number of jobs and agent sessions. At upgrade a browser
 * Origin must be allowed (else 4403) and a token must authenticate (else
 * 4401; same sources as /collab: `?token=`, Authorization, X-Api-Key or a
 * `loom.bearer.<token>` subprotocol), with the `jobs:run` scope (4403).
 * Connection limits per address and per user apply (4430, ConnectionQuota).
 * Sockets are pinged every heartbeat and closed with 1001 on shutdown.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { AuthError, extractUpgradeToken, isOriginAllowed, selectSubprotocol, type Principal, type RateLimiter } from '../auth/index.ts';
import { CLOSE_CODES, type CloseCode } from '../../protocol/errors.ts';
import { MAX_SOCKET_FRAME_BYTES } from '../../protocol/socket.ts';
import type { JobEventFeedDeps } from '../jobs/job-event-feed.ts';
import type { Logger } from '../log.ts';
import type { ConnectionQuota } from './connection-quota.ts';
import { JobSocketConnection, type JobSocketConnectionDeps } from './job-socket-connection.ts';
import { closeSocket } from './socket-close.ts';
import { SocketHeartbeat } from './socket-heartbeat.ts';

export const JOB_SOCKET_PATH = '/ws';

export interface JobSocketGatewayDeps {
  readonly gatewayId: string;
  /** Whose jobs they are (one log read per job, then remembered). */
  readonly jobOwners: JobSocketConnectionDeps['jobOwners'];
  readonly feed: JobEventFeedDeps;
  /** Agent-session logs and feed, for `agent:<id>` channels. */
  readonly agents?: JobSocketConnectionDeps['agents'];
  /** The principal of a raw credential. @throws AuthError when it is not valid. */
  authenticateToken(raw: string): Promise<Principal>;
  readonly allowedOrigins: readonly string[];
  readonly heartbeatMs: number;
  readonly maxBufferedBytes: number;
  readonly messageLimiter: RateLimiter | undefined;
  /** Per-address and per-user socket limits, shared with /collab. */
  readonly quota?: ConnectionQuota | undefined;
  readonly log: Logger;
}

export class JobSocketGateway {
  private readonly wss: WebSocketServer;
  private readonly connections: SocketHeartbeat<JobSocketConnection>;
  private nextConn = 0;

  constructor(private readonly deps: JobSocketGatewayDeps) {
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: MAX_SOCKET_FRAME_BYTES,
      perMessageDeflate: false,
      handleProtocols: (offered) => selectSubprotocol(offered),
    });
    this.connections = new SocketHeartbeat({ intervalMs: deps.heartbeatMs, log: deps.log, unresponsiveMessage: 'closing unresponsive job socket' });
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  /** The open sockets (for revocation). */
  sockets(): JobSocketConnection[] {
    return this.connections.members();
  }

  start(): void {
    this.connections.start();
  }

  /** @returns false when the request is not for `/ws` (another handler may take it). */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    const url = new URL(req.url ?? '/', 'http://gateway');
    if (url.pathname !== JOB_SOCKET_PATH) return false;
    this.wss.handleUpgrade(req, socket, head, (ws) => void this.admit(ws, req, url));
    return true;
  }

  private async admit(ws: WebSocket, req: IncomingMessage, url: URL): Promise<void> {
    const connId = `${this.deps.gatewayId}:ws${++this.nextConn}`;
    // Paused, the socket keeps early frames until the connection is admitted.
    ws.pause();
    const refuse = (code: CloseCode, reason: string) => {
      this.deps.log.info({ connId, code, reason }, 'job socket refused');
      closeSocket(ws, code, reason);
    };
    const quota = this.deps.quota;
    const ip = quota?.clientIp(req) ?? '';
    if (quota !== undefined && !quota.holdForIp(ws, ip)) return refuse(CLOSE_CODES.tooManyConnections, `too many open sockets from this address (at most ${quota.limits.maxPerIp})`);
    if (!isOriginAllowed(req.headers, this.deps.allowedOrigins)) return refuse(CLOSE_CODES.forbidden, `origin ${String(req.headers.origin)} may not connect`);
    const found = extractUpgradeToken(req.headers, url);
    if (found === null) return refuse(CLOSE_CODES.unauthorized, 'a token is required: ?token=, Authorization: Bearer, or a loom.bearer.<token> subprotocol');
    let principal: Principal;
    try {
      principal = await this.deps.authenticateToken(found.token);
    } catch (err) {
      if (err instanceof AuthError) return refuse(err.kind === 'forbidden' ? CLOSE_CODES.forbidden : CLOSE_CODES.unauthorized, err.message);
      this.deps.log.error({ err, connId }, 'authenticating a job socket failed');
      closeSocket(ws, CLOSE_CODES.internalError, 'authentication failed');
      return;
    }
    if (!principal.scopes.has('jobs:run')) return refuse(CLOSE_CODES.forbidden, 'this API key lacks the jobs:run scope');
    if (quota !== undefined && !quota.holdForUser(ws, principal.userId)) {
      return refuse(CLOSE_CODES.tooManyConnections, `too many open sockets for this user (at most ${quota.limits.maxPerUser} per gateway)`);
    }
    const log = this.deps.log.child({ connId, userId: principal.userId });
    const conn = new JobSocketConnection(connId, ws, principal, {
      jobOwners: this.deps.jobOwners,
      feed: this.deps.feed,
      agents: this.deps.agents,
      maxBufferedBytes: this.deps.maxBufferedBytes,
      messageLimiter: this.deps.messageLimiter,
      log,
    });
    this.connections.add(conn);
    ws.on('close', () => this.connections.delete(conn));
    conn.start();
    ws.resume();
    log.debug('job socket opened');
  }

  /** Closes every socket with 1001 (clients reconnect elsewhere and resume by sequence). */
  async stop(): Promise<void> {
    this.connections.closeAll(CLOSE_CODES.goingAway, 'server shutting down');
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }
}
