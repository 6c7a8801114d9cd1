/**
 * The ObjectStore port: everything Loom does with blobs. The job actor sees
 * only its ArtifactStore slice (actors/ports/object-store.ts); the gateway
 * uses the rest (deletion, presigned URLs). Adapters: FsObjectStore (the
 * embedded default, with HMAC-signed gateway URLs) and S3ObjectStore (minio
 * client against any S3-compatible server).
 */
import type { ArtifactStore } from '../../../actors/ports/index.ts';

export type {
  ArtifactStore,
  ObjectBody,
  ObjectInfo,
  ObjectRead,
  PutIfAbsentResult,
  PutOptions,
  PutResult,
} from '../../../actors/ports/index.ts';

/** Which adapter a store is. */
export type ObjectStoreKind = 'fs' | 's3';

/** A request a client can make without credentials until `expiresAt`. */
export interface PresignedRequest {
  readonly url: string;
  readonly method: 'GET' | 'PUT';
  /** Headers the client must send with exactly these values. */
  readonly headers: Readonly<Record<string, string>>;
  readonly expiresAt: Date;
}

/** What a presigned upload may carry. */
export interface PresignPutOptions {
  /** The upload must be sent with this `Content-Type`. */
  readonly contentType: string;
  /** Largest body accepted, in bytes. */
  readonly maxBytes: number;
  /** Lifetime of the URL in seconds (1 s .. 7 days). */
  readonly ttlS: number;
}

/** Object storage as the gateway and the job engine use it. */
export interface ObjectStore extends ArtifactStore {
  readonly kind: ObjectStoreKind;
  /**
   * Whether a presigned PUT itself refuses a wrong content type or a body
   * over `maxBytes` (the fs gateway does). An S3 presigned PUT cannot bind a
   * maximum size and minio does not sign `Content-Type`, so on S3 the upload's
   * owner must check the stored object (stat) before trusting it.
   */
  readonly enforcesUploadLimits: boolean;
  /** Removes the object; removing a missing object is not an error. @throws InvalidObjectKeyError, ObjectStoreError */
  delete(key: string): Promise<void>;
  /**
   * Removes every object whose key starts with `prefix` (a string prefix, as
   * in S3: `docs/a` also matches `docs/ab/x`; end it with `/` for a folder).
   * @returns how many objects were removed.
   * @throws InvalidObjectKeyError for an empty or malformed prefix, ObjectStoreError
   */
  deletePrefix(prefix: string): Promise<number>;
  /** A URL anyone holding it may GET the object through until it expires. @throws InvalidObjectKeyError, RangeError for a bad ttl */
  presignGet(key: string, ttlS: number): Promise<PresignedRequest>;
  /** A URL anyone holding it may PUT the object through until it expires. @throws InvalidObjectKeyError, InvalidObjectRequestError, RangeError */
  presignPut(key: string, opts: PresignPutOptions): Promise<PresignedRequest>;
  /** Resolves when the backend answers (readiness probe). @throws ObjectStoreError */
  ping(): Promise<void>;
}
