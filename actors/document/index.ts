export { documentActorDefinition, type DocumentActorDeps } from './definition.ts';
export { inferKind, renderContent, type RenderedContent, type RootKind, type UntypedRoot } from './content.ts';
export type { DocumentLimits } from './limits.ts';
export { FencingError, type DocumentDirectory, type DocumentLog, type LogEntry, type Snapshot, type SnapshotStore } from './ports.ts';
