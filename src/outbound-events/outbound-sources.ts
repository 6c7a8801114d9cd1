/**
 * Starts the relays that record outbound events, one leased runner each:
 * the job log, the agent-session log, the document log's change marks
 * (doc.updated, debounced) and the PostgreSQL outbox (member changes, upload
 * completions). Every actors process starts them; the lease makes one
 * process relay each source at a time, and another takes over from the
 * saved cursor (or the unsent outbox rows) when it dies.
 */
import { jetstream, type JetStreamManager } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import type { AgentLogReader } from '../agent-sessions/index.ts';
import type { Logger } from '../log.ts';
import type { JetStreamJobLog } from '../nats/jetstream-job-log.ts';
import { RequestMux } from '../nats/request-mux.ts';
import type { LoomDatabase } from '../storage/index.ts';
import { ensureOutboundEventsStream } from '../webhooks/index.ts';
import { AgentLogSource } from './agent-log-source.ts';
import { DocUpdateSource } from './doc-update-source.ts';
import { JetStreamDocLogTail } from './jetstream-doc-log-tail.ts';
import { JobLogSource } from './job-log-source.ts';
import { LeasedRunner } from './leased-runner.ts';
import { runLogRelay, type LogEventSource } from './log-relay.ts';
import { JetStreamOutboundPublisher } from './outbound-publisher.ts';
import { runOutboxRelay } from './outbox-relay.ts';
import { PostgresDocAudience } from './postgres-doc-audience.ts';
import { openRelayCursors, type RelayCursors } from './relay-cursors.ts';

/** How often the outbox is looked at when it was empty. */
const OUTBOX_POLL_MS = 250;

export interface OutboundSourcesOptions {
  readonly nc: NatsConnection;
  /** Reads where a document's log ends when its doc.updated window closes. */
  readonly jsm: JetStreamManager;
  readonly db: LoomDatabase;
  readonly jobLog: JetStreamJobLog;
  readonly agentLog: Pick<AgentLogReader, 'first'>;
  /** The actor lease bucket (relay leases are `task.outbound-*` keys in it). */
  readonly leases: KV;
  /** This process, as the lease holder. */
  readonly host: string;
  readonly leaseTtlMs: number;
  readonly docDebounceMs: number;
  readonly streamReplicas: number;
  readonly publishTimeoutMs: number;
  readonly log: Logger;
}

export interface OutboundSources {
  stop(): Promise<void>;
}

/** Starts every relay; returns at once (set-up failures are retried by each runner with backoff). */
export function startOutboundEventSources(opts: OutboundSourcesOptions): OutboundSources {
  const log = opts.log.child({ component: 'outbound-events' });
  const js = jetstream(opts.nc, { timeout: opts.publishTimeoutMs });
  const mux = new RequestMux(opts.nc);
  const publisher = new JetStreamOutboundPublisher(mux, opts.publishTimeoutMs);
  // Stream and cursor bucket are made once per process, by whichever relay gets there first.
  let ready: Promise<RelayCursors> | undefined;
  const prepare = (): Promise<RelayCursors> => {
    ready ??= (async () => {
      await ensureOutboundEventsStream(js, opts.streamReplicas, log);
      return openRelayCursors(opts.nc, opts.streamReplicas, log);
    })().catch((err: unknown) => {
      ready = undefined;
      throw err;
    });
    return ready;
  };
  const runner = (name: string, work: (cursors: RelayCursors, signal: AbortSignal) => Promise<void>) =>
    new LeasedRunner({
      leaseKey: `task.outbound-${name}`,
      leases: opts.leases,
      host: opts.host,
      leaseTtlMs: opts.leaseTtlMs,
      log: log.child({ relay: name }),
      work: async (signal) => work(await prepare(), signal),
    });
  const logRelay = (source: LogEventSource) =>
    runner(source.name, (cursors, signal) => runLogRelay({ js, cursors, publisher, log: log.child({ relay: source.name }) }, source, signal));
  const runners = [
    logRelay(new JobLogSource(opts.jobLog, log.child({ source: 'job-log' }))),
    logRelay(new AgentLogSource(opts.agentLog, log.child({ source: 'agent-log' }))),
    logRelay(new DocUpdateSource(new PostgresDocAudience(opts.db), new JetStreamDocLogTail(opts.jsm), opts.docDebounceMs, log.child({ source: 'doc-log' }))),
    runner('outbox', (_cursors, signal) => runOutboxRelay({ db: opts.db, publisher, log: log.child({ relay: 'outbox' }), pollMs: OUTBOX_POLL_MS }, signal)),
  ];
  for (const r of runners) r.start();
  return {
    async stop() {
      await Promise.all(runners.map((r) => r.stop()));
      mux.close();
    },
  };
}
