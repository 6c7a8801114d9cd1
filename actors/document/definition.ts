/** The `doc` actor kind: how a document activation is built from durable state. */
import * as Y from 'yjs';
import type { Logger } from 'pino';
import type { ActorDefinition } from '../actor.ts';
import { Compactor } from './compactor.ts';
import { DocumentActor } from './document-actor.ts';
import type { DocumentLimits } from './limits.ts';
import type { DocumentDirectory, DocumentLog, SnapshotStore } from './ports.ts';
import { recoverDocument, type RecoveredDocument } from './recovery.ts';

export interface DocumentActorDeps {
  readonly log: DocumentLog;
  readonly snapshots: SnapshotStore;
  /** Tells a deleted document from a live one at activation; absent: no document is ever deleted. */
  readonly directory?: DocumentDirectory;
  readonly limits: DocumentLimits;
}

/** Recovery result of a deleted document: nothing. */
const NOTHING: Omit<RecoveredDocument, 'doc'> = { lastSeq: 0, snapshotSeq: 0, snapshotBytes: 0, replayedUpdates: 0, replayedBytes: 0 };

export function documentActorDefinition(deps: DocumentActorDeps): ActorDefinition {
  return {
    kind: 'doc',
    async activate(ctx) {
      if ((await deps.directory?.isDeleted(ctx.id)) === true) {
        // Nothing is read: the log and snapshots are gone, or go with the next `delete`.
        ctx.log.info('document is deleted; answering not-found');
        const compactor = new Compactor(ctx.id, { log: deps.log, snapshots: deps.snapshots, limits: deps.limits, logger: ctx.log }, { snapshotSeq: 0, snapshotBytes: 0, updatesSince: 0, bytesSince: 0 });
        return new DocumentActor(ctx, { doc: new Y.Doc(), ...NOTHING }, deps.log, compactor, deps.limits, deps.snapshots, true);
      }
      const started = Date.now();
      const recovered = await recoverDocument(ctx.id, deps.log, deps.snapshots);
      const logger: Logger = ctx.log;
      logger.info(
        { snapshotSeq: recovered.snapshotSeq, replayed: recovered.replayedUpdates, lastSeq: recovered.lastSeq, ms: Date.now() - started },
        'document recovered',
      );
      const compactor = new Compactor(ctx.id, { log: deps.log, snapshots: deps.snapshots, limits: deps.limits, logger }, {
        snapshotSeq: recovered.snapshotSeq,
        snapshotBytes: recovered.snapshotBytes,
        updatesSince: recovered.replayedUpdates,
        bytesSince: recovered.replayedBytes,
      });
      return new DocumentActor(ctx, recovered, deps.log, compactor, deps.limits, deps.snapshots);
    },
  };
}
