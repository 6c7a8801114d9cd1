/**
 * The multiplexed application socket /ws (PROTOCOL.md §13): one socket for
 * every job and agent-session channel the page follows. It reconnects with
 * backoff and resubscribes each channel after the last event id it saw, so
 * no event is lost or repeated across a reconnect.
 */

export type ChannelFrame =
  | { type: 'event'; channel: string; id: string; event: string; data: unknown }
  | { type: 'token'; channel: string; data: unknown }
  | { type: 'status'; channel: string; data: { status: string } }
  | { type: 'end'; channel: string; reason: string }
  | { type: 'error'; channel?: string; code: string; message: string };

interface Channel {
  lastEventId: string | undefined;
  listener: (frame: ChannelFrame) => void;
}

const MAX_BACKOFF_MS = 5_000;

export class AppSocket {
  #ws: WebSocket | undefined;
  #token: string;
  #closed = false;
  #attempts = 0;
  readonly #channels = new Map<string, Channel>();

  constructor(token: string) {
    this.#token = token;
    this.#open();
  }

  setToken(token: string): void {
    this.#token = token;
  }

  /** Follows a channel (`job:<id>`, `agent:<id>`) until unsubscribe or its `end`. */
  subscribe(channel: string, listener: (frame: ChannelFrame) => void): () => void {
    this.#channels.set(channel, { lastEventId: undefined, listener });
    this.#send({ type: 'subscribe', channel });
    return () => {
      if (this.#channels.delete(channel)) this.#send({ type: 'unsubscribe', channel });
    };
  }

  close(): void {
    this.#closed = true;
    this.#ws?.close(1000, 'page closed');
  }

  #open(): void {
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
    const ws = new WebSocket(url, ['loom', `loom.bearer.${this.#token}`]);
    this.#ws = ws;
    ws.onopen = () => {
      this.#attempts = 0;
      for (const [channel, c] of this.#channels) this.#send({ type: 'subscribe', channel, ...(c.lastEventId === undefined ? {} : { lastEventId: c.lastEventId }) });
    };
    ws.onmessage = (msg) => {
      const frame = parseFrame(msg.data);
      if (frame === null || frame.channel === undefined) return;
      const c = this.#channels.get(frame.channel);
      if (c === undefined) return;
      if (frame.type === 'event') c.lastEventId = frame.id;
      if (frame.type === 'end' && frame.reason === 'job-ended') this.#channels.delete(frame.channel);
      if (frame.type === 'end' && frame.reason !== 'job-ended') {
        this.#send({ type: 'subscribe', channel: frame.channel, ...(c.lastEventId === undefined ? {} : { lastEventId: c.lastEventId }) });
      }
      c.listener(frame);
    };
    ws.onclose = () => {
      if (this.#closed) return;
      const delay = Math.min(MAX_BACKOFF_MS, 250 * 2 ** this.#attempts++);
      setTimeout(() => this.#open(), delay);
    };
  }

  #send(frame: Record<string, unknown>): void {
    if (this.#ws?.readyState === WebSocket.OPEN) this.#ws.send(JSON.stringify(frame));
  }
}

function parseFrame(data: unknown): ChannelFrame | null {
  if (typeof data !== 'string') return null;
  try {
    const frame = JSON.parse(data) as unknown;
    return typeof frame === 'object' && frame !== null && typeof (frame as { type?: unknown }).type === 'string' ? (frame as ChannelFrame) : null;
  } catch {
    return null;
  }
}
