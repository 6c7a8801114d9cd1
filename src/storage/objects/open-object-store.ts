/**
 * Builds the configured ObjectStore: S3 when an endpoint is configured, else
 * the filesystem under `<dataDir>/objects` with signed gateway URLs. Used by
 * src/roles/index.ts for the gateway and for the actors role (job artifacts).
 */
import path from 'node:path';
import type { Config } from '../../config.ts';
import { FsObjectStore } from './fs-object-store.ts';
import { GatewayUrlSigner } from './gateway-url-signer.ts';
import type { ObjectStore } from './object-store.ts';
import { S3ObjectStore } from './s3-object-store.ts';
import { loadUrlSigningKey } from './signing-key.ts';

/** The object-storage settings of Config. */
export type ObjectStorageConfig = Config['objects'];

/** An opened store; `signer` is set for the filesystem store, whose gateway routes need it to verify URLs. */
export interface OpenedObjectStore {
  readonly store: ObjectStore;
  readonly signer: GatewayUrlSigner | undefined;
}

/**
 * Opens the store the config names. Reads (or creates) the URL signing key
 * for the filesystem store; makes no network call for S3 (the bucket is
 * created on first use).
 * @param publicBaseUrl origin for gateway URLs, asked when a URL is signed
 *   (e.g. `() => config.objects.publicUrl ?? \`http://127.0.0.1:${port}\``).
 * @throws ObjectStoreError when the signing key cannot be loaded.
 */
export async function openObjectStore(opts: {
  config: ObjectStorageConfig;
  dataDir: string;
  publicBaseUrl: () => string;
}): Promise<OpenedObjectStore> {
  const s3 = opts.config.s3;
  if (s3 !== undefined) {
    return {
      store: new S3ObjectStore({ endpoint: s3.endpoint, accessKey: s3.accessKey, secretKey: s3.secretKey, bucket: s3.bucket, region: s3.region }),
      signer: undefined,
    };
  }
  const key = await loadUrlSigningKey({ configured: opts.config.urlSigningKey, dataDir: opts.dataDir });
  const signer = new GatewayUrlSigner(key, opts.publicBaseUrl);
  return { store: new FsObjectStore({ root: path.join(opts.dataDir, 'objects'), signer }), signer };
}
