/**
 * Screens client updates before they reach the live doc: each is tried on a
 * shadow replica first (shadow-replica.ts). A connection whose update failed
 * there is refused from then on without trying, so the updates it still had
 * in flight cost nothing while its gateway closes it; the same bytes sent
 * again from other connections are refused without a try too.
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import * as Y from 'yjs';
import { ProtocolError } from '../../protocol/errors.ts';
import { ShadowReplica } from './shadow-replica.ts';

/** What Y.decodeUpdate returns. */
export type DecodedUpdate = ReturnType<typeof Y.decodeUpdate>;

/** Offending connections (and poisons) remembered; the oldest is forgotten past this. */
const MAX_REMEMBERED = 1_000;

export class UpdateScreen {
  private readonly shadow: ShadowReplica;
  /** Made on first failure, like `poisons`: an open document that never saw a bad update holds neither. */
  private offenders: Set<string> | undefined;
  /** Digests of updates that failed: the same bytes from another connection are refused without a try (nor a copy). */
  private poisons: Set<string> | undefined;

  constructor(
    live: Y.Doc,
    private readonly log: Logger,
  ) {
    this.shadow = new ShadowReplica(live);
  }

  /**
   * Tries `update` (`decoded` is Y.decodeUpdate of it) from connection `origin`.
   * @throws ProtocolError `invalid-update` when it fails to integrate, or its connection sent such an update before.
   */
  check(update: Uint8Array, decoded: DecodedUpdate, origin: string | undefined): void {
    if (origin !== undefined && this.offenders?.has(origin) === true) {
      throw new ProtocolError('invalid-update', 'an earlier update of this connection failed to integrate; its updates are refused');
    }
    const digest = () => createHash('sha256').update(update).digest('base64');
    // Hashed only once something failed here: the hot path pays nothing for it.
    if (this.poisons !== undefined && this.poisons.has(digest())) {
      if (origin !== undefined) remember((this.offenders ??= new Set()), origin);
      throw new ProtocolError('invalid-update', 'not a valid Yjs update: the same update failed to integrate before');
    }
    try {
      this.shadow.tryApply(update, clientsNamed(decoded));
    } catch (err) {
      if (origin !== undefined) remember((this.offenders ??= new Set()), origin);
      remember((this.poisons ??= new Set()), digest());
      this.log.warn({ err, origin, bytes: update.length }, 'update failed to integrate; refused, the live document is untouched');
      throw new ProtocolError('invalid-update', 'not a valid Yjs update: it failed while being integrated into the document', { cause: err });
    }
  }

  /** Applies a checked update to the live doc (see ShadowReplica.applyLive). */
  applyLive<T>(apply: () => T): T {
    return this.shadow.applyLive(apply);
  }

  /** Copies the shadow made of the live doc so far. */
  get copies(): number {
    return this.shadow.copies;
  }

  dispose(): void {
    this.shadow.dispose();
  }
}

/** Adds `key`, forgetting the oldest past MAX_REMEMBERED. */
function remember(set: Set<string>, key: string): void {
  if (set.size >= MAX_REMEMBERED) {
    const [oldest] = set;
    if (oldest !== undefined) set.delete(oldest);
  }
  set.add(key);
}

/** Every client an update names: authors of its structs, clients its items refer to, clients of its delete set. */
function clientsNamed(decoded: DecodedUpdate): Set<number> {
  const clients = new Set<number>(decoded.ds.clients.keys());
  for (const struct of decoded.structs) {
    clients.add(struct.id.client);
    if (struct instanceof Y.Item) {
      if (struct.origin !== null) clients.add(struct.origin.client);
      if (struct.rightOrigin !== null) clients.add(struct.rightOrigin.client);
      if (struct.parent instanceof Y.ID) clients.add(struct.parent.client);
    }
  }
  return clients;
}
