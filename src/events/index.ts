/**
 * events/: following an event-sourced actor (job, agent session) for a
 * client: its log's history after a sequence, then its live events, each
 * once and in order.
 */
export { followActorEvents } from './actor-event-feed.ts';
export type { EventFeedDeps, EventLogReader, EventSource, FeedEnd, FeedItem, FollowEventsOptions } from './actor-event-feed.ts';
