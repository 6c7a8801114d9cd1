/**
 * The check a stored upload must pass before it completes: exactly the
 * declared size, the declared media type, and content whose first bytes
 * match that type (content-sniff.ts). Size, type, ETag and bytes come from
 * one read of the object, so what is verified is what gets pinned.
 */
import type { Readable } from 'node:stream';
import type { ObjectInfo, ObjectStore } from '../storage/index.ts';
import { contentMismatch, SNIFF_BYTES } from './content-sniff.ts';
import { mediaTypeOf } from './content-types.ts';

/** What the upload declared. */
export interface DeclaredUpload {
  readonly objectKey: string;
  readonly contentType: string;
  readonly size: number;
}

/** The outcome: the object as verified, or why it is refused (`object` null when it is gone). */
export type StoredUploadCheck = { readonly object: ObjectInfo; readonly mismatch: string | null } | { readonly object: null; readonly mismatch: null };

/**
 * Reads the object's description and first bytes and compares them with the declaration.
 * @throws InvalidObjectKeyError, ObjectStoreError from the store.
 */
export async function checkStoredUpload(store: ObjectStore, declared: DeclaredUpload): Promise<StoredUploadCheck> {
  const read = await store.get(declared.objectKey);
  if (read === null) return { object: null, mismatch: null };
  const { info } = read;
  let head: Uint8Array;
  try {
    head = await readHead(read.body, Math.min(info.size, SNIFF_BYTES));
  } finally {
    read.body.destroy();
  }
  if (info.size !== declared.size) return { object: info, mismatch: `the stored file has ${info.size} bytes, ${declared.size} were declared` };
  if (mediaTypeOf(info.contentType) !== mediaTypeOf(declared.contentType)) {
    return { object: info, mismatch: `the stored file is ${info.contentType}, ${declared.contentType} was declared` };
  }
  return { object: info, mismatch: await contentMismatch(declared.contentType, head, info.size <= SNIFF_BYTES) };
}

/** The first `bytes` bytes of a stream (fewer if it ends first). */
async function readHead(body: Readable, bytes: number): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body) {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
    chunks.push(buf);
    total += buf.length;
    if (total >= bytes) break;
  }
  return Buffer.concat(chunks).subarray(0, bytes);
}
