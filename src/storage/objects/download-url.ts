/**
 * Download links for stored objects (job artifacts, uploads): a presigned S3
 * GET or a signed gateway URL, whichever the store gives.
 */
import type { ObjectStore, PresignedRequest } from './object-store.ts';

/** How long a download link stays valid by default: one hour. */
export const DEFAULT_DOWNLOAD_TTL_S = 3_600;

/**
 * A time-limited URL anyone holding it can GET `key` from. It is signed
 * whether or not the object exists yet; fetching a missing one gives 404.
 * @throws InvalidObjectKeyError for a malformed key, RangeError for a bad ttl.
 * @example const { url, expiresAt } = await downloadUrl(store, artifactKey(jobId, 'compose', 'document.md'));
 */
export async function downloadUrl(store: ObjectStore, key: string, ttlS: number = DEFAULT_DOWNLOAD_TTL_S): Promise<{ url: string; expiresAt: Date }> {
  const presigned: PresignedRequest = await store.presignGet(key, ttlS);
  return { url: presigned.url, expiresAt: presigned.expiresAt };
}
