/**
 * In `members` access mode a document exists once POST /v1/docs registered
 * it. Until then its actor refuses updates (`not-found`), from gateways and
 * internal services alike, so nobody can plant content under an id that the
 * first user to register it would then own. The directory is asked again
 * (once per mailbox batch) while the id is unregistered, since registration
 * may happen while the actor is active; once registered, it stays so.
 */
import type { DocId } from '../../protocol/ids.ts';
import { ProtocolError } from '../../protocol/errors.ts';
import type { DocumentDirectory } from './ports.ts';

export class RegistrationGate {
  private askedThisBatch = false;

  constructor(
    private readonly directory: DocumentDirectory,
    private registered: boolean,
  ) {}

  /** A new mailbox batch starts: the directory may be asked again. */
  newBatch(): void {
    this.askedThisBatch = false;
  }

  /** @throws ProtocolError `not-found` while `id` is unregistered, `unavailable` when the directory cannot say. */
  async check(id: DocId): Promise<void> {
    if (this.registered) return;
    if (!this.askedThisBatch) {
      this.askedThisBatch = true;
      try {
        this.registered = await this.directory.isRegistered(id);
      } catch (err) {
        throw new ProtocolError('unavailable', `could not check whether document ${id} is registered; retry`, { cause: err });
      }
    }
    if (!this.registered) {
      throw new ProtocolError('not-found', `document ${id} is not registered; create it with POST /v1/docs before writing to it`);
    }
  }
}
