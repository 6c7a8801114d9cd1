/**
 * object-gateway.ts: a filesystem ObjectStore in a temp dir with its signed
 * gateway routes served by a real node HTTP server on a free port, so tests
 * can fetch the URLs it presigns exactly as clients do.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createAdaptorServer } from '@hono/node-server';
import { OpenAPIHono } from '@hono/zod-openapi';
import type { AuthEnv } from '../auth/principal.ts';
import { errorResponse } from '../http/errors.ts';
import { objectsRoutes, type UploadReceiver } from '../http/routes/objects.ts';
import { createRootLogger } from '../log.ts';
import { FsObjectStore, GatewayUrlSigner, loadUrlSigningKey, OBJECTS_ROUTE_PATH } from '../storage/objects/index.ts';

/** A running gateway over a temp-dir FsObjectStore. */
export interface ObjectGatewayHandle {
  readonly store: FsObjectStore;
  readonly signer: GatewayUrlSigner;
  /** The temp data folder (objects live in `<dataDir>/objects`). */
  readonly dataDir: string;
  /** `http://127.0.0.1:PORT` */
  readonly baseUrl: string;
  /** The served app, for in-process requests (`app.request(url, init)`). */
  readonly app: OpenAPIHono<AuthEnv>;
  /** The same folder and signer, with a different clock for URL expiry. */
  withClock(clock: () => number): FsObjectStore;
  /** Stops the server and removes the temp dir. Idempotent. */
  dispose(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Starts the gateway. The app maps errors like the real one (errors.ts).
 * `uploads` routes PUTs to upload keys through an UploadService on the store, as the gateway role does.
 * @example await using gw = await startObjectGateway(); const put = await gw.store.presignPut(...)
 */
export async function startObjectGateway(opts: { uploads?: (store: FsObjectStore) => UploadReceiver } = {}): Promise<ObjectGatewayHandle> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'loom-objects-'));
  let baseUrl = '';
  const signer = new GatewayUrlSigner(await loadUrlSigningKey({ configured: undefined, dataDir }), () => baseUrl);
  const root = path.join(dataDir, 'objects');
  const store = new FsObjectStore({ root, signer });
  const log = createRootLogger({ level: 'silent', instanceId: 'object-gateway' });
  const app = new OpenAPIHono<AuthEnv>();
  app.onError((err, c) => errorResponse(c, err, log));
  app.route(OBJECTS_ROUTE_PATH, objectsRoutes({ store, signer, uploads: opts.uploads?.(store) }));
  const server = createAdaptorServer({ fetch: app.fetch }) as Server;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let disposed: Promise<void> | undefined;
  const dispose = () =>
    (disposed ??= (async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dataDir, { recursive: true, force: true });
    })());
  return {
    store,
    signer,
    dataDir,
    baseUrl,
    app,
    withClock: (clock) => new FsObjectStore({ root, signer, clock }),
    dispose,
    [Symbol.asyncDispose]: dispose,
  };
}
