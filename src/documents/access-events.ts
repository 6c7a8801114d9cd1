/**
 * Telling every gateway that rights on a document shrank or changed:
 * `event.doc.<id>.access` (protocol/doc.ts, AccessChanged). Gateways holding
 * sockets on the document re-check each of them against the registry and
 * close those that lost access, so a removed member is disconnected within
 * a round trip, on every gateway.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import type { AccessChanged } from '../../protocol/doc.ts';
import type { DocId } from '../../protocol/ids.ts';
import { encodeJson } from '../../protocol/reply.ts';
import { eventSubject } from '../../protocol/subjects.ts';

/** Where access changes are announced. */
export interface AccessEvents {
  /** Announces a change; fire and forget (core NATS, like every event). */
  publish(docId: DocId, change: AccessChanged): void;
}

/** AccessEvents on the process's NATS connection. */
export function natsAccessEvents(nc: NatsConnection): AccessEvents {
  return {
    publish(docId, change) {
      nc.publish(eventSubject('doc', docId, 'access'), encodeJson(change));
    },
  };
}
