/**
 * A real `y-websocket` client (the package editors use, unmodified) for
 * tests, with the bookkeeping tests need: sync state, close codes seen, and
 * disconnect counts.
 */
import { WebSocket } from 'ws';
import { WebsocketProvider } from 'y-websocket';
import * as Y from 'yjs';
import { waitFor } from './wait-for.ts';

export interface CollabClient {
  readonly doc: Y.Doc;
  readonly provider: WebsocketProvider;
  /** Close events the client saw (code and reason). */
  readonly closes: { code: number; reason: string }[];
  /** How often the connection dropped after having been connected. */
  readonly disconnects: () => number;
  synced(): Promise<void>;
  destroy(): void;
}

/** y-websocket adds one process 'exit' listener per provider; tests open dozens. */
const MAX_PROVIDERS_PER_TEST_PROCESS = 200;

export function connectCollabClient(wsBase: string, room: string, opts: { params?: Record<string, string>; connect?: boolean } = {}): CollabClient {
  if (process.getMaxListeners() < MAX_PROVIDERS_PER_TEST_PROCESS) process.setMaxListeners(MAX_PROVIDERS_PER_TEST_PROCESS);
  const doc = new Y.Doc();
  const provider = new WebsocketProvider(`${wsBase}/collab`, room, doc, {
    WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
    params: opts.params ?? {},
    connect: opts.connect ?? true,
    disableBc: true,
    maxBackoffTime: 500,
  });
  const closes: { code: number; reason: string }[] = [];
  let disconnects = 0;
  let wasConnected = false;
  provider.on('connection-close', (event) => {
    if (event) closes.push({ code: event.code, reason: event.reason });
  });
  provider.on('status', ({ status }) => {
    if (status === 'connected') wasConnected = true;
    if (status === 'disconnected' && wasConnected) disconnects++;
  });
  return {
    doc,
    provider,
    closes,
    disconnects: () => disconnects,
    synced: () => waitFor(() => provider.synced, { what: `client on ${room} synced`, timeoutMs: 20_000 }).then(() => undefined),
    destroy() {
      provider.awareness.destroy();
      provider.destroy();
      doc.destroy();
    },
  };
}
