/**
 * Frames for the edge fuzz test: valid y-websocket frames (sync step 1 and 2,
 * updates, awareness, query-awareness) and valid /ws JSON frames, and random
 * mutations of them, all drawn from one seeded PRNG so a failing run replays
 * from its seed.
 */
import * as Y from 'yjs';
import { encodeAwarenessUpdate } from '../../protocol/awareness.ts';
import { encodeAwarenessFrame, encodeSyncStep1, encodeSyncStep2, encodeUpdateFrame } from '../../protocol/collab.ts';

/** mulberry32: small, fast, good enough to spread fuzz choices; same seed, same run. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

export class FrameFuzzer {
  constructor(private readonly random: () => number) {}

  int(max: number): number {
    return Math.floor(this.random() * max);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  bytes(n: number): Uint8Array {
    return Uint8Array.from({ length: n }, () => this.int(256));
  }

  /** A small valid Yjs update from a fresh client (inserts into shared types the good clients also use). */
  yjsUpdate(): Uint8Array {
    const doc = new Y.Doc();
    const text = 'fuzz'.repeat(1 + this.int(4));
    if (this.random() < 0.5) doc.getText('t').insert(0, text);
    else doc.getMap('m').set(`k${this.int(100)}`, text);
    const update = Y.encodeStateAsUpdate(doc);
    doc.destroy();
    return update;
  }

  /** A valid /collab frame. */
  validCollabFrame(): Uint8Array {
    switch (this.int(5)) {
      case 0:
        return encodeSyncStep1(Y.encodeStateVector(new Y.Doc()));
      case 1:
        return encodeSyncStep2(this.yjsUpdate());
      case 2:
        return encodeUpdateFrame(this.yjsUpdate());
      case 3:
        return encodeAwarenessFrame(
          encodeAwarenessUpdate([{ clientId: 1 + this.int(1_000_000), clock: this.int(10), state: this.random() < 0.2 ? null : JSON.stringify({ user: { name: 'fuzz' } }) }]),
        );
      default:
        return Uint8Array.of(3);
    }
  }

  /** A mutated byte string: bit flips, truncation, extension, splices, or noise. */
  mutateBytes(frame: Uint8Array): Uint8Array {
    const out = Uint8Array.from(frame);
    switch (this.int(6)) {
      case 0:
        for (let i = 0, n = 1 + this.int(4); i < n && out.length > 0; i++) out[this.int(out.length)]! ^= 1 << this.int(8);
        return out;
      case 1:
        return out.subarray(0, this.int(out.length));
      case 2:
        return Uint8Array.from([...out, ...this.bytes(1 + this.int(16))]);
      case 3:
        if (out.length > 0) out[this.int(out.length)] = this.pick([0x00, 0x7f, 0x80, 0xff]);
        return out;
      case 4:
        return Uint8Array.from([...out.subarray(0, this.int(out.length + 1)), ...frame]);
      default:
        return this.bytes(this.int(64));
    }
  }

  /** A /collab frame: valid, mutated, text, or over the frame limit. */
  collabFrame(maxFrameBytes: number): Uint8Array | string {
    const r = this.random();
    if (r < 0.3) return this.validCollabFrame();
    if (r < 0.9) return this.mutateBytes(this.validCollabFrame());
    if (r < 0.95) return 'text is not a y-websocket frame';
    return new Uint8Array(maxFrameBytes + 1 + this.int(1024));
  }

  /** A valid /ws frame. */
  validSocketFrame(): Record<string, unknown> {
    const channel = this.pick(['job:', 'job:x', `job:fuzz-${this.int(1000)}`, 'agent:a', 'job:../..', `job:${'z'.repeat(this.int(300))}`]);
    switch (this.int(3)) {
      case 0:
        return { type: 'ping' };
      case 1:
        return { type: 'subscribe', channel, ...(this.random() < 0.5 ? { lastEventId: String(this.int(100)) } : {}) };
      default:
        return { type: 'unsubscribe', channel };
    }
  }

  /** A /ws frame: valid JSON, mutated JSON or text, binary, or over 16 KiB. */
  socketFrame(): string | Uint8Array {
    const frame = this.validSocketFrame();
    const r = this.random();
    if (r < 0.3) return JSON.stringify(frame);
    if (r < 0.55) {
      const mutated: Record<string, unknown> = { ...frame };
      const key = this.pick(['type', 'channel', 'lastEventId', 'extra', '__proto__']);
      mutated[key] = this.pick<unknown>([null, 42, -1, 1e308, '', 'x'.repeat(this.int(500)), [], {}, true, 'subscribe', 'publish']);
      return JSON.stringify(mutated);
    }
    if (r < 0.85) return Buffer.from(this.mutateBytes(Buffer.from(JSON.stringify(frame)))).toString('utf8');
    if (r < 0.95) return this.mutateBytes(Buffer.from(JSON.stringify(frame)));
    return JSON.stringify({ type: 'ping', pad: 'p'.repeat(17 * 1024) });
  }
}
