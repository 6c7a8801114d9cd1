/**
 * A bounded FIFO per actor. Producers (subscription callbacks) push
 * synchronously; the actor's one consumer loop takes everything queued at
 * once, so updates that arrive together can be merged into one append.
 * Overflow is refused at push time, never buffered without bound.
 */
export interface MailboxLimits {
  readonly maxMessages: number;
  readonly maxBytes: number;
}

export class Mailbox<T> {
  private items: { item: T; bytes: number }[] = [];
  private bytes = 0;
  private waiter: (() => void) | undefined;
  private closed = false;

  constructor(private readonly limits: MailboxLimits) {}

  get size(): number {
    return this.items.length;
  }

  /** @returns 'queued', or why the caller must refuse the message. */
  push(item: T, bytes: number): 'queued' | 'full' | 'closed' {
    if (this.closed) return 'closed';
    if (this.items.length >= this.limits.maxMessages || this.bytes + bytes > this.limits.maxBytes) return 'full';
    this.items.push({ item, bytes });
    this.bytes += bytes;
    this.wake();
    return 'queued';
  }

  /** Waits until something is queued, then returns all of it; [] once closed and empty. */
  async takeAll(): Promise<T[]> {
    while (this.items.length === 0) {
      if (this.closed) return [];
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
      });
    }
    const taken = this.items;
    this.items = [];
    this.bytes = 0;
    return taken.map((e) => e.item);
  }

  /** Refuses further pushes; queued items are still handed out. */
  close(): void {
    this.closed = true;
    this.wake();
  }

  /** Removes and returns everything queued (used when stepping down). */
  drain(): T[] {
    const taken = this.items.map((e) => e.item);
    this.items = [];
    this.bytes = 0;
    return taken;
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }
}
