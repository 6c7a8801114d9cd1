/**
 * Starts `jobs` jobs over NATS (`actor.job.<id>.start`, activation
 * included) from `concurrency` submitters, keeping at most `maxRunning`
 * running at once (0: no limit). Starts still awaiting their reply count as
 * running: otherwise every submitter passes the check at once (`submitted`
 * only grows after the reply) and up to `concurrency` jobs run together.
 */
import { randomBytes } from 'node:crypto';
import { parseActorId } from '../../protocol/ids.ts';
import { encodeJson } from '../../protocol/reply.ts';
import type { ActorClient } from '../../src/placement/actor-client.ts';
import type { JobTracker } from './job-tracker.ts';

export class JobSubmitter {
  submitted = 0;
  errors = 0;

  constructor(
    private readonly client: ActorClient,
    private readonly tracker: JobTracker,
    private readonly opts: { readonly jobs: number; readonly concurrency: number; readonly maxRunning: number },
  ) {}

  /** Resolves once every start was answered; `request(id)` is the start request of job `id`. */
  async run(request: (id: string) => Record<string, unknown>): Promise<void> {
    const prefix = `bench_${randomBytes(4).toString('hex')}`;
    let next = 0;
    let starting = 0;
    const submitter = async () => {
      while (next < this.opts.jobs) {
        while (this.opts.maxRunning > 0 && this.submitted + starting - this.tracker.ended >= this.opts.maxRunning) await new Promise((r) => setTimeout(r, 2));
        if (next >= this.opts.jobs) return;
        const id = parseActorId(`${prefix}_${next++}`);
        starting++;
        try {
          await this.client.request('job', id, 'start', encodeJson(request(id)));
          this.submitted++;
        } catch (err) {
          this.errors++;
          process.stderr.write(`jobs: start ${id} failed: ${(err as Error).message}\n`);
        } finally {
          starting--;
        }
      }
    };
    await Promise.all(Array.from({ length: this.opts.concurrency }, submitter));
  }
}
