/**
 * Sync replies larger than one NATS message are cut into byte ranges. Part 0
 * travels in the sync reply; the actor keeps the rest for SYNC_PART_TTL_MS so
 * the requester can fetch them with `sync-part`. Bounded: at most
 * MAX_CUT_REPLIES are kept, the oldest is dropped first.
 */
import { randomBytes } from 'node:crypto';
import { SYNC_PART_TTL_MS } from '../../protocol/doc.ts';

const MAX_CUT_REPLIES = 16;

interface CutReply {
  readonly parts: readonly Uint8Array[];
  readonly expiresAt: number;
}

export class SyncParts {
  /** Made on the first cut reply: most documents fit one message. */
  private cut: Map<string, CutReply> | undefined;

  constructor(private readonly now: () => number = Date.now) {}

  /** Cuts `update` into parts of at most `maxPartBytes`; keeps parts 1.. for later fetches. */
  split(update: Uint8Array, maxPartBytes: number): { first: Uint8Array; parts: number; syncId: string } {
    if (update.length <= maxPartBytes) return { first: update, parts: 1, syncId: '' };
    this.prune();
    const parts: Uint8Array[] = [];
    for (let at = 0; at < update.length; at += maxPartBytes) parts.push(update.subarray(at, at + maxPartBytes));
    const syncId = randomBytes(12).toString('base64url');
    const cut = (this.cut ??= new Map());
    if (cut.size >= MAX_CUT_REPLIES) cut.delete(cut.keys().next().value as string);
    cut.set(syncId, { parts, expiresAt: this.now() + SYNC_PART_TTL_MS });
    return { first: parts[0]!, parts: parts.length, syncId };
  }

  /** Part `index` of a cut reply, or null when unknown or expired. */
  part(syncId: string, index: number): Uint8Array | null {
    this.prune();
    return this.cut?.get(syncId)?.parts[index] ?? null;
  }

  private prune(): void {
    const cut = this.cut;
    if (cut === undefined) return;
    const now = this.now();
    for (const [id, reply] of cut) if (reply.expiresAt <= now) cut.delete(id);
  }
}
