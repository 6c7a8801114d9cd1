/**
 * Ephemeral presence (y-protocols awareness) of one document, with the
 * gateway that owns each client id, so presence can be dropped when its
 * connection closes or its gateway dies. Never persisted.
 */
import * as Y from 'yjs';
import * as awarenessProtocol from 'y-protocols/awareness';
import type { AwarenessEntry } from '../../protocol/awareness.ts';

export class Presence {
  private readonly awareness: awarenessProtocol.Awareness;
  private readonly owners = new Map<number, string>();

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

  /** Applies a validated update from a connection on `gatewayId`. */
  apply(update: Uint8Array, entries: readonly AwarenessEntry[], origin: string | undefined, gatewayId: string | undefined): void {
    awarenessProtocol.applyAwarenessUpdate(this.awareness, update, origin ?? 'remote');
    for (const e of entries) {
      if (e.removed) this.owners.delete(e.clientId);
      else if (gatewayId !== undefined) this.owners.set(e.clientId, gatewayId);
    }
  }

  /** Removes everything `gatewayId` owned; returns the removal update, or null if none. */
  dropGateway(gatewayId: string): Uint8Array | null {
    const ids = [...this.owners].filter(([, gw]) => gw === gatewayId).map(([id]) => id);
    if (ids.length === 0) return null;
    for (const id of ids) this.owners.delete(id);
    awarenessProtocol.removeAwarenessStates(this.awareness, ids, 'gateway-gone');
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
