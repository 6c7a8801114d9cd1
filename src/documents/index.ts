/**
 * documents/: the documents registry as its consumers see it (owners,
 * members, roles, tombstones), the DocumentService behind /v1/docs, and the
 * access events that make gateways re-check open sockets. The PostgreSQL
 * adapter of the registry is in src/storage/; the WebSocket policy built on
 * it is src/gateway/member-access-policy.ts.
 */
export { natsAccessEvents, type AccessEvents } from './access-events.ts';
export { DocumentError, type DocumentErrorCode } from './document-error.ts';
export {
  decodeCursor,
  documentObjectPrefix,
  DocumentService,
  encodeCursor,
  type DocumentServiceDeps,
  type RequestContext,
  type SnapshotSummary,
} from './document-service.ts';
export {
  DOC_ROLES,
  DocumentExistsError,
  roleAtLeast,
  UnknownUserError,
  type DocRole,
  type DocumentListing,
  type DocumentPage,
  type DocumentRecord,
  type DocumentRegistry,
  type ListCursor,
  type ListOptions,
  type ListScope,
  type MemberRecord,
} from './registry.ts';
