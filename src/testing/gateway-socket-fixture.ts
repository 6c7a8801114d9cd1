/**
 * For the gateway's own tests: both WebSocket endpoints (/collab and /ws) on
 * a plain node HTTP server in the test process, over a real nats-server, so
 * a test can count the server's TCP connections. Credentials are fake (see
 * fakeAuthenticate).
 * Also a raw WebSocket client that never answers a close frame (as a broken
 * or hostile client), to prove the server ends connections on its own.
 */
import { createServer, type Server } from 'node:http';
import { connect as tcpConnect, type AddressInfo, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { AuthError, createRateLimiter, type Principal, type RateLimiter } from '../auth/index.ts';
import { createRootLogger } from '../log.ts';
import { JobOwners } from '../jobs/job-owner.ts';
import { JetStreamJobLog } from '../nats/jetstream-job-log.ts';
import { ActorClient } from '../placement/actor-client.ts';
import { startNatsServer, type NatsServerHandle } from './index.ts';
import { openAccess, type CollabAccessPolicy } from '../gateway/access.ts';
import { CollabGateway } from '../gateway/collab-gateway.ts';
import type { ConnectionQuota } from '../gateway/connection-quota.ts';
import { JobSocketGateway } from '../gateway/job-socket.ts';

export interface SocketFixture {
  readonly port: number;
  readonly collab: CollabGateway;
  readonly jobs: JobSocketGateway;
  /** TCP connections the HTTP server holds, upgraded sockets included. */
  connections(): Promise<number>;
  stop(): Promise<void>;
}

const ALL_SCOPES = new Set(['docs:read', 'docs:write', 'jobs:run'] as const);

/** `user:<id>` is a user token, `key:<id>` an API key of user `owner-<id>`; anything else is refused with 401. */
export function fakeAuthenticate(raw: string): Promise<Principal> {
  if (raw.startsWith('user:')) return Promise.resolve({ kind: 'user', userId: raw.slice(5), keyId: undefined, scopes: ALL_SCOPES, sessionId: undefined });
  if (raw.startsWith('key:')) return Promise.resolve({ kind: 'api-key', userId: `owner-${raw.slice(4)}`, keyId: raw.slice(4), scopes: ALL_SCOPES });
  return Promise.reject(new AuthError('invalid-token', 'access token is not valid'));
}

export async function startSocketFixture(opts: {
  nats: NatsServerHandle;
  access?: CollabAccessPolicy;
  quota?: ConnectionQuota;
  messageLimiter?: RateLimiter;
}): Promise<SocketFixture> {
  const log = createRootLogger({ level: 'silent', instanceId: 'socket-test' });
  const nc: NatsConnection = await connect({ servers: opts.nats.url });
  const jsm = await jetstreamManager(nc);
  const jobLog = new JetStreamJobLog(nc, jsm, { timeoutMs: 5_000, logger: log });
  const gatewayId = `gw-${randomBytes(4).toString('hex')}`;
  const collab = new CollabGateway({
    nc,
    client: new ActorClient(nc, { requestTimeoutMs: 2_000, deadlineMs: 5_000, log }),
    gatewayId,
    limits: { maxFrameBytes: 1024 * 1024, maxBufferedBytes: 4 * 1024 * 1024, heartbeatMs: 30_000, maxInFlight: 64 },
    access: opts.access ?? openAccess,
    messageLimiter: opts.messageLimiter,
    quota: opts.quota,
    log,
  });
  const jobs = new JobSocketGateway({
    gatewayId,
    jobOwners: new JobOwners(jobLog),
    feed: { nc, log: jobLog, logger: log, flushTimeoutMs: 5_000 },
    authenticateToken: fakeAuthenticate,
    allowedOrigins: [],
    heartbeatMs: 30_000,
    maxBufferedBytes: 4 * 1024 * 1024,
    messageLimiter: opts.messageLimiter,
    quota: opts.quota,
    log,
  });
  collab.start();
  jobs.start();
  const server: Server = createServer((_req, res) => res.writeHead(404).end());
  server.on('upgrade', (req, socket, head) => {
    if (!collab.handleUpgrade(req, socket, head) && !jobs.handleUpgrade(req, socket, head)) socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    collab,
    jobs,
    connections: () => new Promise((resolve, reject) => server.getConnections((err, n) => (err ? reject(err) : resolve(n)))),
    async stop() {
      await jobs.stop();
      await collab.stop();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await nc.close();
    },
  };
}

/** A per-connection message limiter with a small bucket, for 4429 tests. */
export function smallMessageLimiter(capacity: number): RateLimiter {
  return createRateLimiter({ capacity, refillPerSec: 1 });
}

/** A WebSocket client on a raw TCP socket that reads what the server sends and never answers a close frame. */
export interface SilentClient {
  /** The close code of the server's close frame, once it arrived. */
  closeCode(): number | undefined;
  /** Whether the server ended the TCP connection. */
  ended(): boolean;
  /** Sends one masked text frame (payload under 126 bytes). */
  sendText(text: string): void;
  destroy(): void;
}

export async function openSilentClient(port: number, path: string, headers: Record<string, string> = {}): Promise<SilentClient> {
  const socket: Socket = tcpConnect(port, '127.0.0.1');
  let received = Buffer.alloc(0);
  let ended = false;
  socket.on('data', (chunk: Buffer) => {
    received = Buffer.concat([received, chunk]);
  });
  socket.on('close', () => {
    ended = true;
  });
  socket.on('error', () => {
    // The server may reset the connection; `ended` records it through 'close'.
  });
  await new Promise<void>((resolve) => socket.once('connect', resolve));
  const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  socket.write(
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`,
  );
  const frames = () => {
    const end = received.indexOf('\r\n\r\n');
    return end < 0 ? Buffer.alloc(0) : received.subarray(end + 4);
  };
  return {
    closeCode() {
      // Server frames are unmasked; a close frame is 0x88, a length under 126, then the code.
      let rest = frames();
      while (rest.length >= 2) {
        const len = rest[1]! & 0x7f;
        const header = len === 126 ? 4 : len === 127 ? 10 : 2;
        const size = len === 126 ? rest.readUInt16BE(2) : len === 127 ? Number(rest.readBigUInt64BE(2)) : len;
        if (rest.length < header + size) return undefined;
        if ((rest[0]! & 0x0f) === 0x8 && size >= 2) return rest.readUInt16BE(header);
        rest = rest.subarray(header + size);
      }
      return undefined;
    },
    ended: () => ended,
    sendText(text) {
      const payload = Buffer.from(text, 'utf8');
      const mask = randomBytes(4);
      const masked = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!));
      socket.write(Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, masked]));
    },
    destroy: () => socket.destroy(),
  };
}
