/**
 * One open document: its Y.Doc, the stock y-websocket provider on
 * /collab/<id> (credential in the `loom.bearer.<token>` subprotocol, kept
 * current as tokens refresh), a copy in IndexedDB so edits made offline
 * survive a reload, and the connection state a person sees. The editor
 * (collab-editor.ts) binds the `content` XML fragment through TipTap's
 * Collaboration extension; jobs and agents write paragraphs into the same
 * fragment, as collaborators.
 */
import { IndexeddbPersistence } from 'y-indexeddb';
import { WebsocketProvider } from 'y-websocket';
import * as Y from 'yjs';

/** The XML root the editor, jobs and agents share (jobs' default `targetRoot`). */
export const CONTENT_ROOT = 'content';

export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'offline' | 'closed';

export interface CollabStatus {
  readonly state: ConnectionState;
  /** Local edits the server has not been sent yet (made while disconnected). */
  readonly pendingEdits: boolean;
  /** Why the server closed the socket for good, in words. */
  readonly closedReason?: string;
}

const CLOSE_MESSAGES: Record<number, string> = {
  4401: 'You are signed out.',
  4403: 'You no longer have access to this document.',
  4404: 'This document does not exist.',
  4413: 'This document reached its size limit.',
  4422: 'An edit was refused by the server.',
  4429: 'Too many changes too fast: reload the page to continue.',
  4430: 'Too many open connections: close some tabs.',
};

export class CollabSession {
  readonly doc = new Y.Doc();
  readonly fragment: Y.XmlFragment = this.doc.getXmlFragment(CONTENT_ROOT);
  readonly provider: WebsocketProvider;
  readonly stored: IndexeddbPersistence;
  #status: CollabStatus = { state: 'connecting', pendingEdits: false };
  #everConnected = false;
  /** A token newer than the one the current socket opened with. */
  #freshToken = false;
  readonly #onStatus: (status: CollabStatus) => void;
  readonly #onlineListener = () => this.provider.connect();
  readonly #offlineListener = () => {
    // The browser knows first: stop writing into a socket that cannot deliver.
    this.provider.disconnect();
    this.#set({ state: 'offline' });
  };

  constructor(opts: { docId: string; userId: string; token: string; onStatus: (status: CollabStatus) => void }) {
    this.#onStatus = opts.onStatus;
    this.stored = new IndexeddbPersistence(`loom:${opts.userId}:${opts.docId}`, this.doc);
    const wsBase = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/collab`;
    this.provider = new WebsocketProvider(wsBase, encodeURIComponent(opts.docId), this.doc, {
      protocols: protocolsFor(opts.token),
      disableBc: true,
      connect: navigator.onLine,
      // 4401 after a token expired reconnects with the refreshed one; other 44xx closes are final.
      shouldReconnect: (event) => event.code === 4401 ? this.#freshToken : !(event.code >= 4400 && event.code < 4500),
    });
    if (!navigator.onLine) this.#set({ state: 'offline' });
    this.provider.on('status', ({ status }) => {
      if (status === 'connected') {
        this.#everConnected = true;
        this.#freshToken = false;
      }
      if (status === 'disconnected' && !navigator.onLine) this.#set({ state: 'offline' });
      else if (status !== 'connected') this.#set({ state: this.#everConnected ? 'reconnecting' : 'connecting' });
    });
    this.provider.on('sync', (synced) => {
      if (synced) this.#set({ state: 'connected', pendingEdits: false });
    });
    this.provider.on('closed', ({ code }) => {
      this.#set({ state: 'closed', closedReason: CLOSE_MESSAGES[code] ?? `The server closed the connection (${code}).` });
    });
    this.doc.on('update', (_update: Uint8Array, origin: unknown) => {
      // What neither the server nor the browser's storage brought in was made here.
      const local = origin !== this.provider && origin !== this.stored;
      if (local && !(this.provider.wsconnected && this.provider.synced)) this.#set({ pendingEdits: true });
    });
    addEventListener('online', this.#onlineListener);
    addEventListener('offline', this.#offlineListener);
  }

  get status(): CollabStatus {
    return this.#status;
  }

  /** Uses a refreshed access token from the next (re)connection on. */
  setToken(token: string): void {
    this.provider.protocols = protocolsFor(token);
    this.#freshToken = true;
  }

  destroy(): void {
    removeEventListener('online', this.#onlineListener);
    removeEventListener('offline', this.#offlineListener);
    this.provider.destroy();
    void this.stored.destroy();
    this.doc.destroy();
  }

  #set(change: Partial<CollabStatus>): void {
    this.#status = { ...this.#status, ...change };
    this.#onStatus(this.#status);
  }
}

function protocolsFor(token: string): string[] {
  return ['loom', `loom.bearer.${token}`];
}
