/**
 * Request/reply over one wildcard inbox subscription, for the hot path
 * (every client update is a request to its document actor). nats.js's own
 * request() builds an Error, with a captured stack, for every request it
 * completes (RequestOne.cancel); under load that was ~5% of a gateway's CPU.
 * This mux keeps one timer per request and answers with a plain outcome.
 */
import { createInbox, type Msg, type MsgHdrs, type NatsConnection, type Subscription } from '@nats-io/transport-node';

export type RequestOutcome =
  | { readonly kind: 'reply'; readonly msg: Msg }
  | { readonly kind: 'no-responders' }
  | { readonly kind: 'timeout' };

interface Pending {
  readonly resolve: (outcome: RequestOutcome) => void;
  readonly timer: NodeJS.Timeout;
}

/** Status code nats-server sends to a reply subject when nobody subscribes to the request subject. */
const NO_RESPONDERS = 503;

export class RequestMux {
  private readonly prefix: string;
  private readonly pending = new Map<string, Pending>();
  private sub: Subscription | undefined;
  private next = 0;

  constructor(private readonly nc: NatsConnection) {
    this.prefix = `${createInbox()}.`;
  }

  /** Sends `data` to `subject` and resolves with the reply, no-responders, or a timeout. Never rejects for those. */
  request(subject: string, data: Uint8Array, opts: { timeoutMs: number; headers?: MsgHdrs }): Promise<RequestOutcome> {
    this.ensureSubscribed();
    const token = (++this.next).toString(36);
    return new Promise<RequestOutcome>((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(token);
        resolve({ kind: 'timeout' });
      }, opts.timeoutMs);
      this.pending.set(token, { resolve, timer });
      try {
        this.nc.publish(subject, data, { reply: this.prefix + token, ...(opts.headers ? { headers: opts.headers } : {}) });
      } catch (err) {
        clearTimeout(timer);
        this.pending.delete(token);
        throw err;
      }
    });
  }

  private ensureSubscribed(): void {
    if (this.sub !== undefined) return;
    this.sub = this.nc.subscribe(`${this.prefix}*`, {
      callback: (err, msg) => {
        // A subscription error is terminal for it: let the next request subscribe again.
        if (err) {
          this.sub = undefined;
          return;
        }
        const token = msg.subject.slice(this.prefix.length);
        const p = this.pending.get(token);
        if (p === undefined) return; // late reply after a timeout: the caller moved on
        this.pending.delete(token);
        clearTimeout(p.timer);
        p.resolve(msg.data.length === 0 && msg.headers?.code === NO_RESPONDERS ? { kind: 'no-responders' } : { kind: 'reply', msg });
      },
    });
  }

  /** Ends the subscription; pending requests time out. */
  close(): void {
    this.sub?.unsubscribe();
    this.sub = undefined;
  }
}

const shared = new WeakMap<NatsConnection, RequestMux>();

/**
 * The one mux of a connection for callers that have only the connection in
 * hand (a work message's confirmed ack); it lives as long as the connection.
 */
export function sharedRequestMux(nc: NatsConnection): RequestMux {
  let mux = shared.get(nc);
  if (mux === undefined) {
    mux = new RequestMux(nc);
    shared.set(nc, mux);
  }
  return mux;
}
