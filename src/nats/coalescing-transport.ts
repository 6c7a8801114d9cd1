/**
 * A NATS transport that writes once per event-loop turn.
 *
 * nats.js flushes its outbound buffer in a microtask, and Node runs the
 * microtasks after every socket callback: a process serving many sockets
 * writes to NATS once per incoming frame (one append per WebSocket update,
 * one reply per request), and on loopback each write syscall costs tens of
 * µs on both sides. This transport gathers what nats.js sends during one
 * turn of the loop and writes it in one `setImmediate`, which runs right
 * after the poll phase: no timer, no added wait when the process is idle,
 * and under load every frame read in the same turn shares one write.
 *
 * Order is kept (one queue, one writer); a close writes what is queued first.
 */
import { NodeTransport } from '@nats-io/transport-node/lib/node_transport.js';

export class CoalescingTransport extends NodeTransport {
  private queued: Uint8Array[] = [];
  private queuedBytes = 0;
  private scheduled = false;

  override send(frame: Uint8Array): void {
    this.queued.push(frame);
    this.queuedBytes += frame.length;
    if (this.queuedBytes >= FLUSH_AT_BYTES) {
      this.writeQueued();
      return;
    }
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.writeQueued);
    }
  }

  override close(err?: Error): Promise<void> {
    this.writeQueued();
    return super.close(err);
  }

  override disconnect(): void {
    this.writeQueued();
    super.disconnect();
  }

  private readonly writeQueued = (): void => {
    this.scheduled = false;
    const frames = this.queued;
    if (frames.length === 0) return;
    this.queued = [];
    this.queuedBytes = 0;
    super.send(frames.length === 1 ? frames[0]! : Buffer.concat(frames));
  };
}

/** nats.js flushes inline past its own 32 KiB pending limit; this stays near it. */
const FLUSH_AT_BYTES = 64 * 1024;
