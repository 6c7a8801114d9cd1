/** The `doc` actor kind: how a document activation is built from durable state. */
import type { Logger } from 'pino';
import { HEADERS } from '../../protocol/headers.ts';
import type { ActorDefinition } from '../actor.ts';
import { Attribution } from './attribution.ts';
import { Compactor } from './compactor.ts';
import { DocumentActor } from './document-actor.ts';
import type { DocumentLimits } from './limits.ts';
import type { DocumentDirectory, DocumentLog, SnapshotStore } from './ports.ts';
import { recoverDocument, type RecoveredDocument } from './recovery.ts';
import { RegistrationGate } from './registration-gate.ts';

export interface DocumentActorDeps {
  readonly log: DocumentLog;
  readonly snapshots: SnapshotStore;
  /** Tells a deleted document from a live one at activation; absent: no document is ever deleted. */
  readonly directory?: DocumentDirectory;
  readonly limits: DocumentLimits;
  /** LOOM_DOC_ACCESS=members: updates to ids the directory never registered are refused `not-found`. */
  readonly requireRegistration?: boolean;
}

/** Recovery result of a deleted document: nothing. */
const NOTHING: Omit<RecoveredDocument, 'doc' | 'attribution'> = { lastSeq: 0, snapshotSeq: 0, snapshotBytes: 0, replayedUpdates: 0, replayedBytes: 0 };

export function documentActorDefinition(deps: DocumentActorDeps): ActorDefinition {
  return {
    kind: 'doc',
    async activate(ctx) {
      if ((await deps.directory?.isDeleted(ctx.id)) === true) {
        // Nothing is read: the log and snapshots are gone, or go with the next `delete`.
        ctx.log.info('document is deleted; answering not-found');
        const compactor = new Compactor(ctx.id, { log: deps.log, snapshots: deps.snapshots, limits: deps.limits, logger: ctx.log }, { snapshotSeq: 0, snapshotBytes: 0, updatesSince: 0, bytesSince: 0 });
        const attribution = new Attribution();
        return new DocumentActor(ctx, { doc: attribution.createDoc(), attribution, ...NOTHING }, deps.log, compactor, deps.limits, deps.snapshots, true);
      }
      const started = Date.now();
      const logger: Logger = ctx.log;
      const recovered = await recoverDocument(ctx.id, deps.log, deps.snapshots, (err, what) => logger.warn({ err }, `${what} is unreadable; its text counts as unknown`));
      logger.info(
        { snapshotSeq: recovered.snapshotSeq, replayed: recovered.replayedUpdates, lastSeq: recovered.lastSeq, ms: Date.now() - started },
        'document recovered',
      );
      // A previous owner killed between appending its last entry and broadcasting it
      // leaves clients without that update, and Yjs holds back every later update
      // of its author until it arrives: broadcast it again (clients drop duplicates).
      if (recovered.lastEntryUpdate !== undefined) ctx.publish('update', recovered.lastEntryUpdate, { [HEADERS.seq]: String(recovered.lastSeq) });
      const encodeAttribution = () => recovered.attribution.toRecord().encode();
      const compactor = new Compactor(ctx.id, { log: deps.log, snapshots: deps.snapshots, limits: deps.limits, logger, encodeAttribution }, {
        snapshotSeq: recovered.snapshotSeq,
        snapshotBytes: recovered.snapshotBytes,
        updatesSince: recovered.replayedUpdates,
        bytesSince: recovered.replayedBytes,
      });
      const gate = deps.requireRegistration === true && deps.directory !== undefined ? new RegistrationGate(deps.directory, await deps.directory.isRegistered(ctx.id)) : undefined;
      return new DocumentActor(ctx, recovered, deps.log, compactor, deps.limits, deps.snapshots, false, gate);
    },
  };
}
