/**
 * Ephemeral presence (y-protocols awareness) of one document, with the
 * gateway that owns each client id, so presence can be dropped when its
 * connection closes or its gateway dies. Never persisted.
 */
import * as Y from 'yjs';
import * as awarenessProtocol from 'y-protocols/awareness';
import type { AwarenessEntry } from '../../protocol/awareness.ts';

/** Who introduced a client's presence: the connection and its gateway. */
interface Owner {
  readonly origin: string | undefined;
  readonly gateway: string | undefined;
}

export class Presence {
  private readonly awareness: awarenessProtocol.Awareness;
  private readonly owners = new Map<number, Owner>();

  /** `onTimeout` receives an awareness update removing clients that went stale. */
  constructor(doc: Y.Doc, onTimeout: (removal: Uint8Array) => void) {
    this.awareness = new awarenessProtocol.Awareness(doc);
    // The server itself has no presence.
    this.awareness.setLocalState(null);
    this.awareness.on('update', ({ removed }: { removed: number[] }, origin: unknown) => {
      if (origin === 'timeout' && removed.length > 0) {
        for (const id of removed) this.owners.delete(id);
        onTimeout(awarenessProtocol.encodeAwarenessUpdate(this.awareness, removed));
      }
    });
  }

  /**
   * Applies a validated update from connection `origin` on `gateway`.
   * y-websocket clients echo every awareness change they receive, so the owner
   * of a client id is the connection that advanced its clock, not whoever
   * relayed it last (relays carry the clock they were sent).
   */
  apply(update: Uint8Array, entries: readonly AwarenessEntry[], origin: string | undefined, gateway: string | undefined): void {
    const advancing = entries.filter((e) => e.clock > (this.awareness.meta.get(e.clientId)?.clock ?? -1));
    awarenessProtocol.applyAwarenessUpdate(this.awareness, update, origin ?? 'remote');
    for (const e of advancing) {
      if (e.removed) this.owners.delete(e.clientId);
      else this.owners.set(e.clientId, { origin, gateway });
    }
  }

  /** Removes what connection `origin` introduced (it closed); null when nothing. */
  dropOrigin(origin: string): Uint8Array | null {
    return this.drop((o) => o.origin === origin, 'disconnect');
  }

  /** Removes everything connections on `gatewayId` introduced (it died); null when nothing. */
  dropGateway(gatewayId: string): Uint8Array | null {
    return this.drop((o) => o.gateway === gatewayId, 'gateway-gone');
  }

  private drop(match: (owner: Owner) => boolean, why: string): Uint8Array | null {
    const ids = [...this.owners].filter(([, owner]) => match(owner)).map(([id]) => id);
    if (ids.length === 0) return null;
    for (const id of ids) this.owners.delete(id);
    awarenessProtocol.removeAwarenessStates(this.awareness, ids, why);
    return awarenessProtocol.encodeAwarenessUpdate(this.awareness, ids);
  }

  /** Every known state as one update; empty when nobody is present. */
  snapshot(): Uint8Array {
    const ids = [...this.awareness.getStates().keys()];
    return ids.length === 0 ? new Uint8Array(0) : awarenessProtocol.encodeAwarenessUpdate(this.awareness, ids);
  }

  destroy(): void {
    this.awareness.destroy();
  }
}
