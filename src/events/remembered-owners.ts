/**
 * The owners of event-sourced actors (jobs, agent sessions) a process has
 * checked. An owner is named by the actor's first log entry, which never
 * changes, so an owner once found is kept (bounded) and every later check
 * of that actor costs no read. "Does not exist" is not kept: the actor may
 * be made a moment later. Actors are deleted only with their owner's
 * account, whose tokens stop working then, so a remembered owner never
 * lets anyone else in.
 */
import { BoundedMap } from '../limits/bounded-map.ts';

/** How many owners a process remembers by default; each is two short strings. */
export const REMEMBERED_OWNERS = 10_000;

export class RememberedOwners {
  private readonly known: BoundedMap<string, string>;

  /** `lookup` reads the owner from the log: null when the actor does not exist. */
  constructor(
    private readonly lookup: (id: string, signal?: AbortSignal) => Promise<string | null>,
    max = REMEMBERED_OWNERS,
  ) {
    this.known = new BoundedMap(max);
  }

  /** Keeps an owner learnt elsewhere (a reader of the log that met the first event). */
  remember(id: string, ownerId: string): void {
    this.known.set(id, ownerId);
  }

  /** The owner of `id`, or null when it does not exist; throws as `lookup` does. */
  async of(id: string, signal?: AbortSignal): Promise<string | null> {
    const remembered = this.known.get(id);
    if (remembered !== undefined) return remembered;
    const owner = await this.lookup(id, signal);
    if (owner !== null) this.known.set(id, owner);
    return owner;
  }
}
