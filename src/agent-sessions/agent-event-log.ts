/**
 * A session's log as the event follower reads it: one item per event, keyed
 * by its event id, though an entry of the log holds all the events of one
 * decision (protocol/agent-events.ts). A client resuming after an event in
 * the middle of an entry gets the rest of that entry, then what follows.
 */
import { agentEntrySeqOf, agentEventId, decodeAgentEntry, encodeAgentEvent } from '../../protocol/agent-events.ts';
import type { EventLogReader } from '../events/index.ts';

type Entry = { readonly seq: number; readonly body: Uint8Array };

/** Events of one entry with their ids, each re-encoded on its own. */
function eventsOf(entry: Entry): Entry[] {
  return decodeAgentEntry(entry.body).map((event, i) => ({ seq: agentEventId(entry.seq, i), body: encodeAgentEvent(event) }));
}

/** The event-level reader over an entry-level one. */
export function agentEventLog(entries: EventLogReader): EventLogReader {
  return {
    async *readAfter(id, afterEventId, signal) {
      // The entry holding `afterEventId` may have later events: read from it.
      const fromEntry = Math.max(0, agentEntrySeqOf(afterEventId) - 1);
      for await (const entry of entries.readAfter(id, fromEntry, signal)) {
        for (const event of eventsOf(entry)) if (event.seq > afterEventId) yield event;
      }
    },
    async last(id) {
      // Asked every few seconds per follower (the gap check): only the last event is encoded again.
      const entry = await entries.last(id);
      if (entry === null) return null;
      const events = decodeAgentEntry(entry.body);
      const last = events.at(-1);
      return last === undefined ? null : { seq: agentEventId(entry.seq, events.length - 1), body: encodeAgentEvent(last) };
    },
  };
}
