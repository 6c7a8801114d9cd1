/**
 * A bounded FIFO per actor. Producers (subscription callbacks) push
 * synchronously and the mailbox tells its owner through `onPush`; the
 * owner's one consumer takes everything queued at once, so updates that
 * arrive together can be merged into one append. Nothing waits on an empty
 * mailbox: an idle actor holds no pending promise or loop. Overflow is
 * refused at push time, never buffered without bound.
 */
export interface MailboxLimits {
  readonly maxMessages: number;
  readonly maxBytes: number;
}

export class Mailbox<T> {
  private items: { item: T; bytes: number }[] = [];
  private bytes = 0;
  private closed = false;

  /** @param onPush called synchronously after each message is queued (the owner starts its consumer if idle). */
  constructor(
    private readonly limits: MailboxLimits,
    private readonly onPush: () => void = () => undefined,
  ) {}

  get size(): number {
    return this.items.length;
  }

  /**
   * An empty mailbox takes one message of any size: its size is already
   * bounded by the transport (NATS max_payload), and a message larger than
   * `maxBytes` (LOOM_MAILBOX_MAX_BYTES may be set below max_payload) was
   * otherwise refused as `full` on every retry, however idle the actor,
   * so a near-1 MiB inference result never reached its agent session.
   * @returns 'queued', or why the caller must refuse the message.
   */
  push(item: T, bytes: number): 'queued' | 'full' | 'closed' {
    if (this.closed) return 'closed';
    if (this.items.length >= this.limits.maxMessages || (this.items.length > 0 && this.bytes + bytes > this.limits.maxBytes)) return 'full';
    this.items.push({ item, bytes });
    this.bytes += bytes;
    this.onPush();
    return 'queued';
  }

  /** Removes and returns everything queued now ([] when empty); still hands out what was queued before close. */
  takeAll(): T[] {
    if (this.items.length === 0) return [];
    const taken = this.items;
    this.items = [];
    this.bytes = 0;
    return taken.map((e) => e.item);
  }

  /** Refuses further pushes; queued items are still handed out. */
  close(): void {
    this.closed = true;
  }
}
