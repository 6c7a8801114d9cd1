/** The job actor's DocumentPort: the document actor's `sync` and `update` commands over NATS. */
import type { DocumentPort } from '../../actors/job/index.ts';
import { HEADERS } from '../../protocol/headers.ts';
import { parseActorId } from '../../protocol/ids.ts';
import type { ActorClient } from '../placement/actor-client.ts';
import { requestSync } from '../placement/doc-sync.ts';

export class ActorDocumentPort implements DocumentPort {
  constructor(private readonly client: ActorClient) {}

  async sync(docId: string, stateVector: Uint8Array, signal: AbortSignal): Promise<Uint8Array> {
    return (await requestSync(this.client, parseActorId(docId), stateVector, undefined, signal)).update;
  }

  async update(docId: string, update: Uint8Array, signal: AbortSignal, author?: string): Promise<void> {
    await this.client.request('doc', parseActorId(docId), 'update', update, author === undefined ? undefined : { [HEADERS.author]: author }, signal);
  }
}
