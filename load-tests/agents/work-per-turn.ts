/**
 * How much durable work a turn costs, counted where it lands rather than
 * inferred from code: events appended to the session logs (stream
 * LOOM_AGENT_LOG) and PostgreSQL transactions committed in the run's
 * database, each divided by the turns run (warm-up included). The CPU per
 * turn follows these counts more than Loom's own code (README, agents).
 */
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import pg from 'pg';
import { AGENT_LOG_STREAM } from '../../protocol/subjects.ts';

export interface WorkCounts {
  readonly logAppends: number;
  readonly sqlTransactions: number;
}

/** Totals so far (appends to `logStream`, the agents' log unless named); take one before and one after the load and subtract. */
export async function countWork(nc: NatsConnection, databaseUrl: string, logStream: string = AGENT_LOG_STREAM): Promise<WorkCounts> {
  const jsm = await jetstreamManager(nc);
  const stream = await jsm.streams.info(logStream);
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const r = await client.query<{ commits: string }>('SELECT xact_commit AS commits FROM pg_stat_database WHERE datname = current_database()');
    return { logAppends: stream.state.messages, sqlTransactions: Number(r.rows[0]?.commits ?? 0) };
  } finally {
    await client.end();
  }
}

export function perTurn(before: WorkCounts, after: WorkCounts, turns: number): Record<string, number | null> {
  const per = (n: number) => (turns === 0 ? null : Math.round((n / turns) * 10) / 10);
  return { turns, logAppends: per(after.logAppends - before.logAppends), sqlTransactions: per(after.sqlTransactions - before.sqlTransactions) };
}
