/** The `doc` actor kind: how a document activation is built from durable state. */
import type { Logger } from 'pino';
import type { ActorDefinition } from '../actor.ts';
import { Compactor } from './compactor.ts';
import { DocumentActor } from './document-actor.ts';
import type { DocumentLimits } from './limits.ts';
import type { DocumentLog, SnapshotStore } from './ports.ts';
import { recoverDocument } from './recovery.ts';

export interface DocumentActorDeps {
  readonly log: DocumentLog;
  readonly snapshots: SnapshotStore;
  readonly limits: DocumentLimits;
}

export function documentActorDefinition(deps: DocumentActorDeps): ActorDefinition {
  return {
    kind: 'doc',
    async activate(ctx) {
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
      return new DocumentActor(ctx, recovered, deps.log, compactor, deps.limits);
    },
  };
}
