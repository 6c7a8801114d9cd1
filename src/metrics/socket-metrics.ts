/**
 * Gateway WebSocket metrics: open sockets and frames in and out per endpoint
 * (`collab` for y-websocket documents, `ws` for job and agent events), and
 * the latency of fanning one document event out to a room's sockets.
 * Frames are counted in plain numbers and added to their counters when the
 * registry is read: a prom-client increment per frame (one per delivery,
 * ten per edit in a room of eleven) was 1-2 % of a busy gateway.
 */
import { Counter, Gauge, Histogram } from 'prom-client';
import { registry } from './registry.ts';

export type SocketEndpoint = 'collab' | 'ws';

const connections = new Gauge({
  name: 'loom_ws_connections',
  help: 'Open WebSocket connections on this gateway, by endpoint',
  labelNames: ['endpoint'] as const,
  registers: [registry],
});
const ENDPOINTS: readonly SocketEndpoint[] = ['collab', 'ws'];
/** Frames since the registry was last read, per endpoint. */
const uncounted: Record<SocketEndpoint, { received: number; sent: number }> = { collab: { received: 0, sent: 0 }, ws: { received: 0, sent: 0 } };

function framesCounter(direction: 'received' | 'sent', name: string, help: string): Counter<'endpoint'> {
  return new Counter({
    name,
    help,
    labelNames: ['endpoint'] as const,
    registers: [registry],
    collect(this: Counter<'endpoint'>) {
      for (const endpoint of ENDPOINTS) {
        const frames = uncounted[endpoint][direction];
        uncounted[endpoint][direction] = 0;
        // Always called, so a gateway with no frame yet shows 0 rather than no series.
        this.labels(endpoint).inc(frames);
      }
    },
  });
}
framesCounter('received', 'loom_ws_frames_received_total', 'WebSocket frames received from clients, by endpoint');
framesCounter('sent', 'loom_ws_frames_sent_total', 'WebSocket frames sent to clients, by endpoint');
const fanOutDuration = new Histogram({
  name: 'loom_gateway_fanout_duration_seconds',
  help: "Time to encode one document event and hand it to every socket of the document's room on this gateway",
  // In-process work: buckets start at 10 µs.
  buckets: [0.00001, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.1],
  registers: [registry],
});

/** Pre-bound children of one endpoint: what a socket calls per frame. */
export interface SocketMeter {
  opened(): void;
  closed(): void;
  received(): void;
  sent(): void;
}

function meterFor(endpoint: SocketEndpoint): SocketMeter {
  const open = connections.labels(endpoint);
  const frames = uncounted[endpoint];
  // Zero from the start, so a gateway with no socket yet shows 0 rather than no series.
  open.set(0);
  return {
    opened: () => open.inc(),
    closed: () => open.dec(),
    received: () => {
      frames.received++;
    },
    sent: () => {
      frames.sent++;
    },
  };
}

const METERS: Record<SocketEndpoint, SocketMeter> = { collab: meterFor('collab'), ws: meterFor('ws') };

export function socketMeter(endpoint: SocketEndpoint): SocketMeter {
  return METERS[endpoint];
}

/** Observes one fan-out that started at `startedAt` (performance.now()). */
export function observeFanOut(startedAt: number): void {
  fanOutDuration.observe((performance.now() - startedAt) / 1_000);
}

export type RoomResyncReason = 'missed-event' | 'reconnect';

const roomResyncs = new Counter({
  name: 'loom_gateway_room_resyncs_total',
  help: "Times a gateway sent a document room the document's whole state because events may have been lost: a missed log entry, or its own NATS reconnect",
  labelNames: ['reason'] as const,
  registers: [registry],
});
roomResyncs.labels('missed-event').inc(0);
roomResyncs.labels('reconnect').inc(0);

export function observeRoomResync(reason: RoomResyncReason): void {
  roomResyncs.labels(reason).inc();
}
