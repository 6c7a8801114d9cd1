/**
 * One simulated editor's connection, behind the same small interface for
 * both servers: y-websocket's `WebsocketProvider` for Loom (the client of
 * record), Hocuspocus's own `HocuspocusProvider` for Hocuspocus.
 *
 * Each client gets its own WebSocket, as a browser tab would.
 */
import { HocuspocusProvider, HocuspocusProviderWebsocket } from '@hocuspocus/provider';
import WebSocket from 'ws';
import { WebsocketProvider } from 'y-websocket';
import * as Y from 'yjs';
import type { Target } from './load-spec.ts';

export interface CollabClient {
  readonly doc: Y.Doc;
  /** Resolves once the first sync with the server completed; rejects after timeoutMs. */
  whenSynced(timeoutMs: number): Promise<void>;
  /** Times the connection dropped after it was first synced. */
  disconnects(): number;
  /** Destroys the provider, its socket and the doc (timers keep Node alive otherwise). */
  destroy(): void;
}

function waitFor(isDone: () => boolean, subscribe: (done: () => void) => () => void, timeoutMs: number, what: string): Promise<void> {
  if (isDone()) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      unsubscribe();
      reject(new Error(`${what} not synced within ${timeoutMs} ms`));
    }, timeoutMs);
    const unsubscribe = subscribe(() => {
      if (!isDone()) return;
      clearTimeout(timer);
      unsubscribe();
      resolve();
    });
  });
}

function openYWebsocket(baseUrl: string, docName: string): CollabClient {
  const doc = new Y.Doc();
  const provider = new WebsocketProvider(baseUrl, docName, doc, {
    // ws's class is what y-websocket calls in Node; its type differs from the DOM one only in extras.
    WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
    // Without this, clients of one document inside one worker would talk over
    // BroadcastChannel and bypass the server entirely.
    disableBc: true,
    // Never reconnect quietly in the background for long: a drop is counted.
    maxBackoffTime: 1000,
  });
  let drops = 0;
  let wasSynced = false;
  provider.on('sync', (synced) => {
    if (synced) wasSynced = true;
  });
  // y-websocket clears `synced` before it reports the close, hence wasSynced.
  provider.on('status', ({ status }) => {
    if (status === 'disconnected' && wasSynced) drops += 1;
  });
  return {
    doc,
    whenSynced: (timeoutMs) =>
      waitFor(
        () => provider.synced,
        (done) => {
          provider.on('sync', done);
          return () => provider.off('sync', done);
        },
        timeoutMs,
        `y-websocket client for ${docName}`,
      ),
    disconnects: () => drops,
    destroy: () => {
      provider.destroy();
      doc.destroy();
    },
  };
}

function openHocuspocus(baseUrl: string, docName: string): CollabClient {
  const doc = new Y.Doc();
  const socket = new HocuspocusProviderWebsocket({ url: baseUrl, WebSocketPolyfill: WebSocket });
  const provider = new HocuspocusProvider({ websocketProvider: socket, name: docName, document: doc });
  // A provider given its own socket is not attached by its constructor.
  provider.attach();
  let drops = 0;
  let wasSynced = false;
  provider.on('synced', () => {
    wasSynced = true;
  });
  provider.on('disconnect', () => {
    if (wasSynced) drops += 1;
  });
  return {
    doc,
    whenSynced: (timeoutMs) =>
      waitFor(
        () => provider.isSynced,
        (done) => {
          provider.on('synced', done);
          return () => provider.off('synced', done);
        },
        timeoutMs,
        `hocuspocus client for ${docName}`,
      ),
    disconnects: () => drops,
    destroy: () => {
      provider.destroy();
      socket.destroy();
      doc.destroy();
    },
  };
}

/** Opens a client of the given server kind for one document. */
export function openCollabClient(target: Target, baseUrl: string, docName: string): CollabClient {
  switch (target) {
    case 'loom':
    case 'loom-cluster':
    case 'loom-x2':
      return openYWebsocket(baseUrl, docName);
    case 'hocuspocus':
    case 'hocuspocus-x2':
      return openHocuspocus(baseUrl, docName);
    default: {
      const never: never = target;
      throw new Error(`unknown target ${String(never)}`);
    }
  }
}
