/**
 * What a log entry says about who wrote it. Updates queued together are
 * merged into one append; the entry then names their author (Loom-Author)
 * when they share one, which replay turns back into the same attribution,
 * or carries the merged record of what each update recorded when they mix
 * authors. A revert's update brings its own record and is appended alone.
 */
import { UNKNOWN_AUTHOR } from '../../protocol/attribution.ts';
import { AttributionRecord } from './attribution-record.ts';
import type { EntryAttribution } from './ports.ts';

/** A pending update as far as attribution is concerned. */
export interface AttributedUpdate {
  /** null when the update changed nothing (it joins any entry and adds nothing). */
  readonly update: Uint8Array | null;
  readonly author: string | undefined;
  /** What applying it recorded. */
  readonly record?: AttributionRecord | null | undefined;
  /** An explicit record (a revert), appended as an entry of its own. */
  readonly attribution?: Uint8Array | undefined;
}

const base64Bytes = (n: number) => Math.ceil(n / 3) * 4;

/** Bytes the update may cost in an append, its share of the attribution header included (an upper bound). */
export function appendCost(p: AttributedUpdate): number {
  if (p.update === null) return 0;
  if (p.attribution !== undefined) return p.update.length + base64Bytes(p.attribution.length);
  return p.update.length + base64Bytes(p.record?.maxEncodedBytes ?? 0);
}

/** Whether `p` must start a new entry after `chunk`: a revert's record never shares one. */
export function startsNewEntry(chunk: readonly AttributedUpdate[], p: AttributedUpdate): boolean {
  return p.update !== null && chunk.length > 0 && (p.attribution !== undefined || chunk.some((c) => c.attribution !== undefined));
}

/** The attribution an entry of these updates carries. */
export function entryAttribution(chunk: readonly AttributedUpdate[]): EntryAttribution {
  const live = chunk.filter((p) => p.update !== null);
  const explicit = live.find((p) => p.attribution !== undefined)?.attribution;
  if (explicit !== undefined) return { attribution: explicit };
  const authors = new Set(live.map((p) => p.author ?? UNKNOWN_AUTHOR));
  if (authors.size <= 1) return live[0]?.author === undefined ? {} : { author: live[0].author };
  const merged = new AttributionRecord();
  for (const p of live) if (p.record) merged.addAll(p.record);
  return { attribution: merged.encode() };
}
