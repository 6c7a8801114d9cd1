/**
 * How much durable work a turn costs, counted where it lands rather than
 * inferred from code: events appended to the session logs (stream
 * LOOM_AGENT_LOG), PostgreSQL transactions committed in the run's
 * database and the inference workers' pull requests (a subscriber of the
 * JetStream API subject gets a copy of each), each divided by the turns run
 * (warm-up included). The CPU per
 * turn follows these counts more than Loom's own code (README, agents).
 */
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { INFERENCE_STREAM } from '../../protocol/inference.ts';
import pg from 'pg';
import { AGENT_LOG_STREAM } from '../../protocol/subjects.ts';

export interface WorkCounts {
  readonly logAppends: number;
  readonly sqlTransactions: number;
  /** Only when a counter was given. */
  readonly inferencePulls?: number;
}

/** Counts the pull requests sent to the inference consumers, from now until stop(). */
export class InferencePullCounter {
  #count = 0;
  readonly #sub: Subscription;

  constructor(nc: NatsConnection) {
    // A plain callback that only counts: nothing to await per message.
    this.#sub = nc.subscribe(`$JS.API.CONSUMER.MSG.NEXT.${INFERENCE_STREAM}.>`, { callback: () => void (this.#count += 1) });
  }

  get count(): number {
    return this.#count;
  }

  stop(): void {
    this.#sub.unsubscribe();
  }
}

/** Totals so far (appends to `logStream`, the agents' log unless named); take one before and one after the load and subtract. */
export async function countWork(nc: NatsConnection, databaseUrl: string, logStream: string = AGENT_LOG_STREAM, pulls?: InferencePullCounter): Promise<WorkCounts> {
  const jsm = await jetstreamManager(nc);
  const stream = await jsm.streams.info(logStream);
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const r = await client.query<{ commits: string }>('SELECT xact_commit AS commits FROM pg_stat_database WHERE datname = current_database()');
    return { logAppends: stream.state.messages, sqlTransactions: Number(r.rows[0]?.commits ?? 0), ...(pulls === undefined ? {} : { inferencePulls: pulls.count }) };
  } finally {
    await client.end();
  }
}

export function perTurn(before: WorkCounts, after: WorkCounts, turns: number): Record<string, number | null> {
  const per = (n: number) => (turns === 0 ? null : Math.round((n / turns) * 10) / 10);
  return {
    turns,
    logAppends: per(after.logAppends - before.logAppends),
    sqlTransactions: per(after.sqlTransactions - before.sqlTransactions),
    ...(after.inferencePulls === undefined || before.inferencePulls === undefined ? {} : { inferencePulls: per(after.inferencePulls - before.inferencePulls) }),
  };
}
