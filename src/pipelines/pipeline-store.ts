/**
 * The registry's storage port: immutable, numbered versions of each owner's
 * pipeline definitions. PostgresPipelineStore (src/storage/) implements it.
 */
import type { PipelineDefinition } from '../../protocol/pipeline-definition.ts';

/** One registered version. */
export interface StoredPipeline {
  readonly ownerId: string;
  readonly kind: string;
  /** From 1, per owner and kind. */
  readonly version: number;
  readonly definition: PipelineDefinition;
  readonly createdAt: Date;
}

export interface PipelineStore {
  /**
   * Stores the definition as the kind's next version (1 for a new kind);
   * concurrent registrations of one kind get distinct versions.
   * @throws StorageError when the write fails.
   */
  append(ownerId: string, kind: string, definition: PipelineDefinition): Promise<StoredPipeline>;
  /** The kind's newest version, or null when the owner has none. */
  latest(ownerId: string, kind: string): Promise<StoredPipeline | null>;
  /** One version, or null. */
  version(ownerId: string, kind: string, version: number): Promise<StoredPipeline | null>;
  /** The owner's kinds at their newest versions, by kind, after `afterKind`, at most `limit`. */
  listLatest(ownerId: string, opts: { limit: number; afterKind?: string | undefined }): Promise<StoredPipeline[]>;
  /** How many kinds the owner has registered. */
  countKinds(ownerId: string): Promise<number>;
}
