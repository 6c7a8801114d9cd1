/**
 * The WebSocket side of the gateway: accepts upgrades on /collab/<docId>,
 * keeps one DocRoom per document with local sockets, pings every socket,
 * announces its own liveness on NATS, and closes every socket with "going
 * away" on shutdown so clients reconnect elsewhere. Connection limits per
 * address (before the access check) and per user (after it) apply: 4430.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { NatsConnection } from '@nats-io/transport-node';
import { WebSocketServer, type WebSocket } from 'ws';
import { GATEWAY_HEARTBEAT_MS } from '../../protocol/activation.ts';
import { CLOSE_CODES } from '../../protocol/errors.ts';
import { parseActorId, type DocId } from '../../protocol/ids.ts';
import { gatewaySignalSubject } from '../../protocol/subjects.ts';
import type { Logger } from '../log.ts';
import type { ActorClient } from '../placement/actor-client.ts';
import { onReconnect } from '../nats/reconnects.ts';
import { requestSync } from '../placement/doc-sync.ts';
import { selectSubprotocol, type RateLimiter } from '../auth/index.ts';
import { AccessDeniedError, type CollabAccess, type CollabAccessPolicy } from './access.ts';
import { CollabConnection } from './collab-connection.ts';
import type { ConnectionQuota } from './connection-quota.ts';
import { DocRoom, type LocalDocEvents } from './doc-room.ts';
import type { GatewayLimits } from './limits.ts';
import { closeSocket } from './socket-close.ts';
import { SocketHeartbeat } from './socket-heartbeat.ts';

export const COLLAB_PATH_PREFIX = '/collab/';

export class CollabGateway {
  private readonly wss: WebSocketServer;
  private readonly rooms = new Map<DocId, DocRoom>();
  private readonly connections: SocketHeartbeat<CollabConnection>;
  private beaconTimer: NodeJS.Timeout | undefined;
  private nextConn = 0;

  constructor(
    private readonly deps: {
      nc: NatsConnection;
      client: ActorClient;
      gatewayId: string;
      limits: GatewayLimits;
      access: CollabAccessPolicy;
      /** Token bucket per connection on incoming messages; over it, close 4429. */
      messageLimiter?: RateLimiter | undefined;
      /** Per-address and per-user socket limits, shared with /ws. */
      quota?: ConnectionQuota | undefined;
      /** Events of actors running in this process, delivered without NATS (src/host/local-actors.ts). */
      local?: LocalDocEvents | undefined;
      log: Logger;
    },
  ) {
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: deps.limits.maxFrameBytes,
      perMessageDeflate: false,
      // A client carrying its token as a `loom.bearer.<token>` subprotocol also offers `loom`; answer with that one.
      handleProtocols: (offered) => selectSubprotocol(offered),
    });
    this.connections = new SocketHeartbeat({ intervalMs: deps.limits.heartbeatMs, log: deps.log, unresponsiveMessage: 'closing unresponsive socket' });
  }

  /** Number of open collaboration sockets. */
  get connectionCount(): number {
    return this.connections.size;
  }

  /** The open sockets (for revocation). */
  sockets(): CollabConnection[] {
    return this.connections.members();
  }

  start(): void {
    this.connections.start();
    const beat = () => this.deps.nc.publish(gatewaySignalSubject(this.deps.gatewayId, 'heartbeat'));
    beat();
    this.beaconTimer = setInterval(beat, GATEWAY_HEARTBEAT_MS);
    this.beaconTimer.unref();
    // After a NATS reconnect (a node lost) the events of the gap are gone: every room resends the document's state.
    onReconnect(this.deps.nc, this.deps.log, () => {
      this.deps.log.info({ rooms: this.rooms.size }, 'nats reconnected; resyncing rooms');
      for (const room of this.rooms.values()) room.repair('reconnect');
    });
  }

  /** @returns false when the request is not for this gateway (caller answers 404). */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    const url = new URL(req.url ?? '/', 'http://gateway');
    if (!url.pathname.startsWith(COLLAB_PATH_PREFIX)) return false;
    this.wss.handleUpgrade(req, socket, head, (ws) => void this.admit(ws, req, url));
    return true;
  }

  /** Validates the document id and asks the access policy before the socket joins a room. */
  private async admit(ws: WebSocket, req: IncomingMessage, url: URL): Promise<void> {
    const connId = `${this.deps.gatewayId}:${++this.nextConn}`;
    const quota = this.deps.quota;
    if (quota !== undefined && !quota.holdForIp(ws, quota.clientIp(req))) {
      this.deps.log.info({ connId }, 'collab connection refused: too many from this address');
      closeSocket(ws, CLOSE_CODES.tooManyConnections, `too many open sockets from this address (at most ${quota.limits.maxPerIp})`);
      return;
    }
    let docId: DocId;
    try {
      docId = parseActorId(decodeURIComponent(url.pathname.slice(COLLAB_PATH_PREFIX.length)));
    } catch (err) {
      this.deps.log.debug({ err, connId }, 'invalid document id');
      closeSocket(ws, CLOSE_CODES.invalidDocId, err instanceof Error ? err.message : 'invalid document id');
      return;
    }
    // Paused, the socket keeps early frames in its buffer until the connection is admitted.
    ws.pause();
    let access: CollabAccess;
    try {
      access = await this.deps.access.authorize({ headers: req.headers, url, docId });
    } catch (err) {
      if (err instanceof AccessDeniedError) {
        this.deps.log.info({ connId, docId, status: err.status, reason: err.message }, 'collab connection refused');
        closeSocket(ws, err.status === 401 ? CLOSE_CODES.unauthorized : CLOSE_CODES.forbidden, err.message);
      } else {
        this.deps.log.error({ err, connId, docId }, 'access check failed');
        closeSocket(ws, CLOSE_CODES.internalError, 'access check failed');
      }
      return;
    }
    const userId = access.credential?.userId;
    if (quota !== undefined && userId !== undefined && !quota.holdForUser(ws, userId)) {
      this.deps.log.info({ connId, docId, userId }, 'collab connection refused: too many for this user');
      closeSocket(ws, CLOSE_CODES.tooManyConnections, `too many open sockets for this user (at most ${quota.limits.maxPerUser} per gateway)`);
      return;
    }
    ws.resume();
    this.accept(ws, connId, docId, access);
  }

  private accept(ws: WebSocket, connId: string, docId: DocId, access: CollabAccess): void {
    const log = this.deps.log.child({ connId, docId, principal: access.principalId });
    let room = this.rooms.get(docId);
    if (room === undefined) {
      room = new DocRoom({
        nc: this.deps.nc,
        docId,
        log,
        fetchState: (id) => requestSync(this.deps.client, id, new Uint8Array(0)),
        onEmpty: (r) => {
          if (this.rooms.get(r.docId) === r) this.rooms.delete(r.docId);
        },
        onAccessChanged: (r) => void this.recheckDocument(r.docId),
        local: this.deps.local,
      });
      this.rooms.set(docId, room);
    }
    const conn = new CollabConnection(connId, ws, docId, room, {
      client: this.deps.client,
      gatewayId: this.deps.gatewayId,
      limits: this.deps.limits,
      messageLimiter: this.deps.messageLimiter,
      log,
    }, access);
    this.connections.add(conn);
    ws.on('close', () => this.connections.delete(conn));
    conn.start();
    log.debug('collab connection opened');
  }

  /**
   * Re-checks the rights of every socket on a document (call when its members
   * change): a socket that lost access is closed with 4403, a changed role
   * applies from the next frame.
   */
  async recheckDocument(docId: DocId): Promise<void> {
    const affected = this.connections.members().filter((c) => c.docId === docId);
    await Promise.all(
      affected.map(async (conn) => {
        try {
          const next = await this.deps.access.recheck(conn.access, docId);
          if (next === null) {
            this.deps.log.info({ connId: conn.connId, docId, principal: conn.access.principalId }, 'collab access revoked');
            conn.close(CLOSE_CODES.forbidden, 'access to this document was revoked');
          } else {
            if (next.role !== conn.access.role) this.deps.log.info({ connId: conn.connId, docId, principal: next.principalId, role: next.role }, 'collab role changed');
            conn.access = next;
          }
        } catch (err) {
          this.deps.log.error({ err, connId: conn.connId, docId }, 'access re-check failed');
        }
      }),
    );
  }

  /** Closes every socket with 1001 and tells actor hosts this gateway is gone. */
  async stop(): Promise<void> {
    if (this.beaconTimer !== undefined) clearInterval(this.beaconTimer);
    this.connections.closeAll(CLOSE_CODES.goingAway, 'server shutting down');
    this.deps.nc.publish(gatewaySignalSubject(this.deps.gatewayId, 'bye'));
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }
}
