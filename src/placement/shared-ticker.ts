/**
 * One interval timer for many members that each want a periodic call: the
 * lease refreshes and idle checks of every actor on a host, which used to
 * hold one `setInterval` (and its closure) per actor. The timer runs only
 * while the ticker has members and never keeps the process alive.
 *
 * Tickers are shared per owner (a host's lease bucket handle or NATS
 * connection) and period, so code that cannot be handed one (an activation
 * built by the host) still joins its host's ticker.
 */
export interface TickerMember {
  /** Called once per tick with the tick's time. Members handle their own failures; a throw is rethrown as uncaught. */
  onTick(nowMs: number): void;
}

export class SharedTicker {
  private readonly members = new Set<TickerMember>();
  private timer: NodeJS.Timeout | undefined;

  constructor(readonly periodMs: number) {
    if (!Number.isFinite(periodMs) || periodMs < 1) throw new RangeError(`ticker period must be at least 1 ms, got ${periodMs}`);
  }

  /** Members now ticked (for tests and metrics). */
  get size(): number {
    return this.members.size;
  }

  /** Whether the interval timer is running (only while there are members). */
  get running(): boolean {
    return this.timer !== undefined;
  }

  add(member: TickerMember): void {
    this.members.add(member);
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => this.tick(), this.periodMs);
    this.timer.unref();
  }

  delete(member: TickerMember): void {
    this.members.delete(member);
    if (this.members.size > 0 || this.timer === undefined) return;
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private tick(): void {
    const nowMs = Date.now();
    // A member may leave during its own tick (a lease lost, an actor passivating); Set iteration allows that.
    for (const member of this.members) {
      try {
        member.onTick(nowMs);
      } catch (err) {
        // As from a timer of its own: an uncaught exception, but the other members still get their tick.
        process.nextTick(() => {
          throw err;
        });
      }
    }
  }
}

const tickers = new WeakMap<object, Map<number, SharedTicker>>();

/** The ticker of `owner` for `periodMs`, made on first use; it lives as long as the owner does. */
export function sharedTicker(owner: object, periodMs: number): SharedTicker {
  let byPeriod = tickers.get(owner);
  if (byPeriod === undefined) {
    byPeriod = new Map();
    tickers.set(owner, byPeriod);
  }
  let ticker = byPeriod.get(periodMs);
  if (ticker === undefined) {
    ticker = new SharedTicker(periodMs);
    byPeriod.set(periodMs, ticker);
  }
  return ticker;
}
