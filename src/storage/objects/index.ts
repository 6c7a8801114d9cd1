/**
 * objects/: the ObjectStore port's full form and its adapters (filesystem,
 * S3), the gateway URL signer, and the factory the roles use. The job actor
 * depends only on actors/ports (ArtifactStore, artifactKey).
 */
export type {
  ArtifactStore,
  ObjectBody,
  ObjectInfo,
  ObjectRead,
  ObjectStore,
  ObjectStoreKind,
  PresignedRequest,
  PresignPutOptions,
  PutIfAbsentResult,
  PutOptions,
  PutResult,
} from './object-store.ts';
export { InvalidObjectRequestError, isTransientObjectError, ObjectStoreError, type ObjectStoreErrorCode } from './object-store-error.ts';
export { FsObjectStore, type FsObjectStoreOptions } from './fs-object-store.ts';
export { S3ObjectStore, type S3ObjectStoreOptions } from './s3-object-store.ts';
export {
  GatewayUrlError,
  GatewayUrlSigner,
  OBJECTS_ROUTE_PATH,
  type GatewayGrant,
  type GatewayUrlErrorCode,
  type SignedQuery,
} from './gateway-url-signer.ts';
export { loadUrlSigningKey, SIGNING_KEY_FILE } from './signing-key.ts';
export { openObjectStore, type ObjectStorageConfig, type OpenedObjectStore } from './open-object-store.ts';
export { DEFAULT_DOWNLOAD_TTL_S, downloadUrl } from './download-url.ts';
export { checkContentType, MAX_PRESIGN_TTL_S } from './object-request.ts';
export {
  artifactKey,
  documentObjectKey,
  documentObjectsPrefix,
  InvalidObjectKeyError,
  jobArtifactsPrefix,
  ObjectTooLargeError,
  parseObjectKey,
} from '../../../actors/ports/index.ts';
