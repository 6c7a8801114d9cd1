/** One node HTTP server for the Hono app and the WebSocket upgrades, on one port. */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAdaptorServer } from '@hono/node-server';
import type { Hono } from 'hono';
import type { Logger } from '../log.ts';

export interface UpgradeHandler {
  /** @returns false when the path is not its own. */
  handleUpgrade(req: import('node:http').IncomingMessage, socket: import('node:stream').Duplex, head: Buffer): boolean;
}

export interface HttpServer {
  readonly port: number;
  close(): Promise<void>;
}

export async function startHttpServer(opts: {
  /** Any Hono app (createApp's OpenAPIHono included): only its fetch is used. */
  app: Pick<Hono, 'fetch'>;
  host: string;
  port: number;
  upgrades: readonly UpgradeHandler[];
  log: Logger;
}): Promise<HttpServer> {
  const server = createAdaptorServer({ fetch: opts.app.fetch }) as Server;
  server.on('upgrade', (req, socket, head) => {
    socket.on('error', (err) => opts.log.debug({ err }, 'upgrade socket error'));
    for (const handler of opts.upgrades) if (handler.handleUpgrade(req, socket, head)) return;
    socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  opts.log.info({ host: opts.host, port }, 'http listening');
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
