/** Ports shared by more than one actor kind: what actors need from the outside world, implemented in src/. */
export {
  ObjectTooLargeError,
  type ArtifactStore,
  type ObjectBody,
  type ObjectInfo,
  type ObjectRead,
  type PutIfAbsentResult,
  type PutOptions,
  type PutResult,
} from './object-store.ts';
export {
  artifactKey,
  documentObjectKey,
  documentObjectsPrefix,
  InvalidObjectKeyError,
  jobArtifactsPrefix,
  keySegment,
  MAX_OBJECT_KEY_BYTES,
  MAX_OBJECT_KEY_SEGMENTS,
  parseObjectKey,
  parseObjectKeyPrefix,
  segmentToString,
} from './object-key.ts';
export { priceUsage, requestIdFor, type PriceTable } from './model-calls.ts';
export { ProjectionSync, type ProjectionWrite } from './projection-sync.ts';
export { canonicalJson } from './canonical-json.ts';
