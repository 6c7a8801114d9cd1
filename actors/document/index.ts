export { documentActorDefinition, type DocumentActorDeps } from './definition.ts';
export type { DocumentLimits } from './limits.ts';
export { FencingError, type DocumentDirectory, type DocumentLog, type LogEntry, type Snapshot, type SnapshotStore } from './ports.ts';
