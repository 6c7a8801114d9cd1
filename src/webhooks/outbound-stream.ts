/**
 * The JetStream stream of outbound events (protocol/outbound-events.ts).
 * Every role that publishes events or dispatches them calls
 * ensureOutboundEventsStream at start; whichever comes first creates it, and
 * a later start with other settings updates it in place.
 *
 * Limits retention, not work-queue: the webhook dispatcher reads through its
 * own durable consumer, and any other NATS subscriber may read the same
 * events. Events expire after OUTBOUND_EVENTS_MAX_AGE_MS; by then every
 * delivery has long been recorded in PostgreSQL (the dispatcher records a
 * delivery before it acknowledges the event).
 */
import {
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamClient,
  type JetStreamManager,
  RetentionPolicy,
  type StreamConfig,
  type StreamInfo,
  StorageType,
} from '@nats-io/jetstream';
import { MAX_OUTBOUND_EVENT_BYTES, OUTBOUND_EVENT_SUBJECT_PREFIX, OUTBOUND_EVENTS_STREAM } from '../../protocol/outbound-events.ts';
import type { Logger } from '../log.ts';

/** A week: far past the longest retry schedule, so a stopped dispatcher catches up after a long outage. */
export const OUTBOUND_EVENTS_MAX_AGE_MS = 7 * 24 * 3_600_000;
/** A source that records the same fact again within this window (same `Nats-Msg-Id`) is collapsed. */
export const OUTBOUND_EVENTS_DUPLICATE_WINDOW_MS = 10 * 60_000;

const NS_PER_MS = 1_000_000;

function wantedConfig(replicas: number): Partial<StreamConfig> & { name: string } {
  return {
    name: OUTBOUND_EVENTS_STREAM,
    subjects: [`${OUTBOUND_EVENT_SUBJECT_PREFIX}.>`],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    max_age: OUTBOUND_EVENTS_MAX_AGE_MS * NS_PER_MS,
    duplicate_window: OUTBOUND_EVENTS_DUPLICATE_WINDOW_MS * NS_PER_MS,
    // The body limit plus room for headers.
    max_msg_size: MAX_OUTBOUND_EVENT_BYTES + 4_096,
    num_replicas: replicas,
  };
}

function differs(have: StreamConfig, want: ReturnType<typeof wantedConfig>): boolean {
  return (
    have.subjects.join(',') !== (want.subjects ?? []).join(',') ||
    have.max_age !== want.max_age ||
    have.duplicate_window !== want.duplicate_window ||
    have.max_msg_size !== want.max_msg_size ||
    have.num_replicas !== want.num_replicas
  );
}

async function existing(jsm: JetStreamManager): Promise<StreamInfo | null> {
  try {
    return await jsm.streams.info(OUTBOUND_EVENTS_STREAM);
  } catch (err) {
    if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound) return null;
    throw err;
  }
}

async function create(jsm: JetStreamManager, want: ReturnType<typeof wantedConfig>, log: Logger | undefined): Promise<StreamInfo> {
  try {
    const created = await jsm.streams.add(want);
    log?.info({ stream: OUTBOUND_EVENTS_STREAM, replicas: want.num_replicas }, 'stream created');
    return created;
  } catch (err) {
    // Another process may have created it between our info and add: fine if it exists now.
    if (!(err instanceof JetStreamApiError)) throw err;
    return await jsm.streams.info(OUTBOUND_EVENTS_STREAM);
  }
}

/**
 * Creates LOOM_OUTBOUND_EVENTS, or updates it when its settings differ.
 * Idempotent and safe to race: a concurrent creator wins and we read its stream.
 * @param js a JetStream manager, or a client (its manager is used).
 * @param replicas 1 for a single server; 3 in a clustered deployment.
 * @throws JetStreamApiError when the server refuses the stream (e.g. more replicas than servers).
 */
export async function ensureOutboundEventsStream(js: JetStreamManager | JetStreamClient, replicas = 1, log?: Logger): Promise<StreamInfo> {
  const jsm = 'jetstreamManager' in js ? await js.jetstreamManager() : js;
  const want = wantedConfig(replicas);
  const info = (await existing(jsm)) ?? (await create(jsm, want, log));
  if (!differs(info.config, want)) return info;
  const updated = await jsm.streams.update(OUTBOUND_EVENTS_STREAM, want);
  log?.info({ stream: OUTBOUND_EVENTS_STREAM, replicas }, 'stream updated');
  return updated;
}
