/**
 * Reads a document's sync reply in full: the first part comes with `sync`,
 * further parts (an update larger than one NATS message) with `sync-part`,
 * joined in order. Used by gateways and by jobs writing into documents.
 */
import { decodeSyncReply, type SyncReply } from '../../protocol/doc.ts';
import { HEADERS, readSeqHeader, type HeaderMap } from '../../protocol/headers.ts';
import type { DocId } from '../../protocol/ids.ts';
import { encodeJson } from '../../protocol/reply.ts';
import type { ActorClient } from './actor-client.ts';

/** A whole sync reply, and the log sequence the state includes (from Loom-Seq; undefined when absent). */
export type FullSyncReply = SyncReply & { readonly seq: number | undefined };

export async function requestSync(client: ActorClient, id: DocId, stateVector: Uint8Array, headers?: HeaderMap, signal?: AbortSignal): Promise<FullSyncReply> {
  const first = await client.request('doc', id, 'sync', stateVector, headers, signal);
  const reply = decodeSyncReply(first.body);
  const seq = readSeqHeader(first.headers[HEADERS.seq]);
  if (reply.parts === 1) return { ...reply, seq };
  const parts: Uint8Array[] = [reply.update];
  for (let index = 1; index < reply.parts; index++) {
    parts.push((await client.request('doc', id, 'sync-part', encodeJson({ syncId: reply.syncId, index }), headers, signal)).body);
  }
  return { ...reply, update: new Uint8Array(Buffer.concat(parts)), parts: 1, syncId: '', seq };
}
