/**
 * Runs one relay in one process of the cluster at a time: every actors
 * process starts a runner per relay, each tries the relay's lease in the
 * actor lease bucket, and the holder runs the work until it stops, fails or
 * loses the lease; the others retry every half lease. A killed holder's
 * lease expires by TTL and another process takes over from the relay's
 * saved position. One reader per log keeps each orderKey's events in log
 * order; relaying is one publish per entry, far cheaper than delivery.
 */
import type { KV } from '@nats-io/kv';
import type { Logger } from '../log.ts';
import { acquireLease, type Lease } from '../placement/lease.ts';
import { pause } from '../pause.ts';

export interface LeasedRunnerOptions {
  /** Lease key, `task.<name>` (no actor kind is called `task`). */
  readonly leaseKey: string;
  readonly leases: KV;
  readonly host: string;
  readonly leaseTtlMs: number;
  readonly log: Logger;
  /** Failure backoff ceiling. */
  readonly maxBackoffMs?: number;
  /** Runs while the lease is held; resolves when `signal` aborts, throws on failure. */
  readonly work: (signal: AbortSignal) => Promise<void>;
}

export class LeasedRunner {
  private stopper = new AbortController();
  private loop: Promise<void> | undefined;

  constructor(private readonly opts: LeasedRunnerOptions) {}

  start(): void {
    this.stopper = new AbortController();
    this.loop = this.run(this.stopper.signal);
  }

  async stop(): Promise<void> {
    this.stopper.abort();
    await this.loop;
  }

  private async run(stopped: AbortSignal): Promise<void> {
    const { log } = this.opts;
    let failures = 0;
    while (!stopped.aborted) {
      let lease: Lease | null = null;
      const held = new AbortController();
      const onStop = () => held.abort();
      stopped.addEventListener('abort', onStop);
      try {
        lease = await acquireLease(this.opts.leases, this.opts.leaseKey, {
          host: this.opts.host,
          ttlMs: this.opts.leaseTtlMs,
          logger: log,
          onLost: (reason) => {
            log.warn({ reason }, 'relay lease lost; stepping down');
            held.abort();
          },
        });
        if (lease === null) {
          await pause(this.opts.leaseTtlMs / 2, stopped);
          continue;
        }
        lease.start();
        log.info('relay lease won; relaying');
        await this.opts.work(held.signal);
        failures = 0;
      } catch (err) {
        failures++;
        const backoffMs = Math.min(this.opts.maxBackoffMs ?? 5_000, 100 * 2 ** Math.min(failures, 10));
        log.warn({ err, failures, backoffMs }, 'relay failed; restarting from its saved position');
        await pause(backoffMs, stopped);
      } finally {
        stopped.removeEventListener('abort', onStop);
        held.abort();
        await lease?.release();
      }
    }
  }
}
