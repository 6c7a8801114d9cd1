/**
 * Tails one JetStream log stream (job, agent-session or document logs) and
 * records the outbound events its entries mean. The log is the outbox: an
 * entry exists before anyone is told of it, so following it from a durable
 * position loses nothing. An ordered consumer reads the whole stream in
 * sequence order from the relay's saved cursor; each entry's events are
 * published (awaited, in order) before the next entry is read, so per
 * orderKey the outbound stream keeps the log's order. The cursor is saved
 * a few times a second, never past an entry a source still holds back
 * (the document debounce); after a crash the entries since the cursor are
 * read again and their events come out with the same ids.
 */
import { DeliverPolicy, type JetStreamClient, type JsMsg } from '@nats-io/jetstream';
import type { OutboundEvent } from '../../protocol/outbound-events.ts';
import type { Logger } from '../log.ts';
import { fromNatsHeaders } from '../nats/headers.ts';
import type { HeaderMap } from '../../protocol/headers.ts';
import { OutboundEventRefusedError, type OutboundPublisher } from './outbound-publisher.ts';
import type { RelayCursors } from './relay-cursors.ts';

/** One log entry as a source sees it. */
export interface LogEntry {
  readonly subject: string;
  readonly seq: number;
  /** Empty for sources that read headers only. */
  readonly data: Uint8Array;
  readonly headers: HeaderMap;
  /** When the stream stored it, ms since the epoch. */
  readonly storedAtMs: number;
}

/** What turns a log's entries into outbound events. */
export interface LogEventSource {
  /** Cursor and log name, e.g. `job-log`. */
  readonly name: string;
  readonly stream: string;
  /** Read headers and metadata only (the document log's updates can be large). */
  readonly headersOnly?: boolean;
  /** Only the stream's entries on these subjects (a wildcard), e.g. the document log's change marks. */
  readonly filterSubject?: string;
  /** Forgets held state: the relay (re)starts at its cursor. */
  reset(): void;
  /** The events an entry means, in order (often none). */
  onEntry(entry: LogEntry): Promise<OutboundEvent[]>;
  /** Events whose time has come (debounce windows that closed); called a few times a second. */
  due?(nowMs: number): Promise<OutboundEvent[]>;
  /** The oldest sequence a held-back event still needs, if any: the cursor stays below it. */
  oldestHeldSeq?(): number | undefined;
}

export interface LogRelayDeps {
  readonly js: JetStreamClient;
  readonly cursors: RelayCursors;
  readonly publisher: OutboundPublisher;
  readonly log: Logger;
  /** How often the cursor is saved and `due` is asked (default 250 ms). */
  readonly tickMs?: number;
}

/**
 * Relays until `signal` aborts.
 * @throws when the log cannot be read or an event cannot be recorded (the runner restarts from the cursor).
 */
export async function runLogRelay(deps: LogRelayDeps, source: LogEventSource, signal: AbortSignal): Promise<void> {
  const { log } = deps;
  const start = await deps.cursors.get(source.name);
  source.reset();
  const consumer = await deps.js.consumers.get(source.stream, {
    ...(start === 0 ? { deliver_policy: DeliverPolicy.All } : { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: start + 1 }),
    ...(source.headersOnly === true ? { headers_only: true } : {}),
    ...(source.filterSubject !== undefined ? { filter_subjects: source.filterSubject } : {}),
  });
  const messages = await consumer.consume({ max_messages: 256 });
  log.info({ afterSeq: start }, 'log relay started');

  let lastSeq = start;
  let saved = start;
  let failure: unknown;
  // One step at a time: entries and due debounces never interleave their publishes.
  let chain: Promise<void> = Promise.resolve();
  const serial = (step: () => Promise<void>) => {
    chain = chain.then(step).catch((err: unknown) => {
      failure ??= err;
      void messages.close();
    });
    return chain;
  };
  const publishAll = async (events: OutboundEvent[]) => {
    for (const event of events) {
      try {
        const { duplicate } = await deps.publisher.publish(event);
        log.debug({ eventId: event.id, type: event.type, duplicate }, 'outbound event recorded');
      } catch (err) {
        if (!(err instanceof OutboundEventRefusedError)) throw err;
        // Retrying cannot help and would stop every later event of the log.
        log.error({ err, eventId: event.id, type: event.type }, 'outbound event refused; passed over');
      }
    }
  };
  const saveCursor = async () => {
    const held = source.oldestHeldSeq?.();
    const safe = held === undefined ? lastSeq : Math.min(lastSeq, held - 1);
    if (safe > saved) {
      await deps.cursors.set(source.name, safe);
      saved = safe;
    }
  };
  const tick = setInterval(() => {
    void serial(async () => {
      if (source.due !== undefined) await publishAll(await source.due(Date.now()));
      await saveCursor();
    });
  }, deps.tickMs ?? 250);
  const onAbort = () => void messages.close();
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    for await (const m of messages) {
      if (signal.aborted || failure !== undefined) break;
      await serial(async () => {
        await publishAll(await source.onEntry(toEntry(m)));
        lastSeq = m.seq;
      });
    }
  } finally {
    clearInterval(tick);
    signal.removeEventListener('abort', onAbort);
    await chain;
    if (failure === undefined) {
      // Keep what was done: a clean stop resumes exactly here.
      await saveCursor().catch((err: unknown) => log.warn({ err }, 'relay cursor not saved at stop; the next run re-records from the last save'));
    }
    await messages.close();
  }
  if (failure !== undefined) throw failure;
  log.info({ seq: lastSeq }, 'log relay stopped');
}

function toEntry(m: JsMsg): LogEntry {
  return {
    subject: m.subject,
    seq: m.seq,
    data: m.data,
    // Read on use: the job and agent log sources need neither, and decoding both for every entry showed in the relay's profile.
    get headers() {
      return fromNatsHeaders(m.headers);
    },
    get storedAtMs() {
      return m.time.getTime();
    },
  };
}
