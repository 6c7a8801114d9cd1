export { documentActorDefinition, type DocumentActorDeps } from './definition.ts';
export { inferKind, renderContent, revealedKind, textRootType, type RenderedContent, type RootKind, type UntypedRoot } from './content.ts';
export { appendBlocks, blocksText, editBlocks, newParagraph, nodeText, PARAGRAPH, TextBlockError, type TextRootType } from './text-blocks.ts';
export type { DocumentLimits } from './limits.ts';
export { FencingError, type DocumentDirectory, type DocumentLog, type LogEntry, type Snapshot, type SnapshotStore } from './ports.ts';
